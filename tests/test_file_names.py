"""File names are bytes: any name the OS allows is ingested, stored, shown and found again."""

from __future__ import annotations

import os
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import write_files
from core.ingest import vector_id
from core.scan import FoundFile, escape_path, path_bytes, repo_file, walk_repo

ODD = b"caf\xe9.md"  # Latin-1 e-acute: not UTF-8


def _make_odd(repo, name: bytes = ODD, content: bytes = b"# espresso\nthe espresso machine hums all day\n"):
    with open(os.path.join(os.fsencode(repo), name), "wb") as f:
        f.write(content)


def test_a_non_utf8_name_does_not_block_its_store(repo, service_factory):
    # The reproduction: one file whose name is not UTF-8 beside ok.md.
    write_files(repo, {"ok.md": "# falcon\nabout the peregrine falcon diving\n"})
    _make_odd(repo)
    service = service_factory(repo)
    report = service.ingest(stores=["docs"])
    assert report.totals()["added"] == 2 and report.totals()["failed"] == 0

    falcon = service.search("peregrine falcon diving", stores=["docs"], top_k=1).hits[0]
    assert falcon.path == "ok.md"
    espresso = service.search("espresso machine hums", stores=["docs"], top_k=1).hits[0]
    assert espresso.path == "caf\\xe9.md"  # printable, one line, valid UTF-8
    espresso.path.encode("utf-8")  # never a lone surrogate
    assert repo_file(repo, espresso.path).read_bytes().startswith(b"# espresso")  # back to the file

    # Mirror rows hold the same stored form; a second run sees nothing new.
    record = service.namespace_records("store", ["docs"])[0]
    assert set(service.mirror.documents(record.id)) == {"ok.md", "caf\\xe9.md"}
    again = service.ingest(stores=["docs"]).totals()
    assert again["unchanged"] == 2 and again["added"] == again["chunks_embedded"] == 0

    # Renamed away: its vectors go, ok.md stays.
    os.unlink(os.path.join(os.fsencode(repo), ODD))
    assert service.ingest(stores=["docs"]).totals()["removed"] == 1
    hits = service.search("espresso machine hums", stores=["docs"], top_k=5).hits
    assert {h.path for h in hits} == {"ok.md"}


def test_odd_names_in_directories_and_control_characters(repo, service_factory):
    os.makedirs(os.path.join(os.fsencode(repo), b"d\xff"))
    _make_odd(repo, b"d\xff/n\x1bew\nline.md", b"# heron\nthe grey heron waits\n")
    _make_odd(repo, "\u202etxt.md".encode(), b"# owl\nthe barn owl hunts at night\n")
    service = service_factory(repo)
    assert service.ingest(stores=["docs"]).totals()["added"] == 2
    heron = service.search("grey heron waits", stores=["docs"], top_k=1).hits[0]
    assert heron.path == "d\\xff/n\\x1bew\\x0aline.md"
    owl = service.search("barn owl hunts", stores=["docs"], top_k=1).hits[0]
    assert owl.path == "\\u202etxt.md"  # a right-to-left override cannot disguise a name on screen
    for hit in (heron, owl):
        assert hit.path.isprintable() and repo_file(repo, hit.path).is_file()


def test_walk_reports_the_stored_form(repo):
    _make_odd(repo)
    write_files(repo, {"back\\slash.md": "x"})
    found = {i.path: i for i in walk_repo(repo, 1000) if isinstance(i, FoundFile)}
    assert set(found) == {"caf\\xe9.md", "back\\\\slash.md"}
    assert os.fsencode(found["caf\\xe9.md"].abs_path).endswith(ODD)


@given(st.lists(st.integers(1, 255).filter(lambda b: b != ord("/")), min_size=1, max_size=40))
def test_stored_form_round_trips_any_name(name_bytes):
    raw = bytes(name_bytes)
    stored = escape_path(os.fsdecode(raw))
    stored.encode("utf-8")  # storable in SQLite and JSON
    # one line, nothing invisible (unassigned code points stay: escaping them would change with Python's Unicode)
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in stored)
    assert path_bytes(stored) == raw


@given(st.text(min_size=1, max_size=30))
def test_plain_names_are_unchanged_and_ids_never_raise(name):
    stored = escape_path(name)
    if name.isprintable() and "\\" not in name:
        assert stored == name
    vector_id(name, "0" * 64, 0)  # any str, even one with lone surrogates
    vector_id(stored, "0" * 64, 0)


@pytest.mark.parametrize("name", ["README.md", "docs/guide.md", "caf\u00e9.md", "\u65e5\u672c.md"])
def test_ids_of_ordinary_names_are_unchanged(name):
    import hashlib

    assert escape_path(name) == name
    expected = hashlib.sha1(name.encode("utf-8")).hexdigest()[:16]
    assert vector_id(name, "ab" * 32, 3) == f"{expected}:{'ab' * 8}:3"


# -- `lightfast ingest PATHS` and the watcher take odd names end to end ----------------------------------

ODD_NAMES = {  # raw name -> stored form
    b"caf\xe9.md": "caf\\xe9.md",
    b"new\nline.md": "new\\x0aline.md",
    b"back\\slash.md": "back\\\\slash.md",
}


def _docs(service) -> dict:
    record = service.namespace_records("store", ["docs"])[0]
    return service.mirror.documents(record.id)


@pytest.fixture
def cli_with_hash_embedder(repo, monkeypatch):
    """The CLI in-process, on a repo with the test profile and the deterministic embedder."""
    from click.testing import CliRunner

    import core.factory
    from conftest import HashEmbedder, make_config
    from lightfast_cli.main import cli

    make_config(repo)
    monkeypatch.setattr(core.factory, "make_embedder", lambda profile: HashEmbedder())
    monkeypatch.chdir(repo)

    def run(*args):
        result = CliRunner().invoke(cli, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    return run


def test_cli_ingest_paths_with_odd_names(repo, service_factory, cli_with_hash_embedder):
    run = cli_with_hash_embedder
    write_files(repo, {"ok.md": "# ok\nplain\n"})
    for raw, stored in ODD_NAMES.items():
        _make_odd(repo, raw, f"# odd\nfirst version of {stored}\n".encode())
    # The names as a shell passes them (argv is decoded with surrogateescape).
    run("ingest", "--store", "docs", *(os.fsdecode(raw) for raw in ODD_NAMES))
    service = service_factory(repo)
    assert set(_docs(service)) == set(ODD_NAMES.values())  # only the given paths, ok.md untouched

    # The stored form, as search shows it, names the same file: an edit is picked up...
    for raw in ODD_NAMES:
        _make_odd(repo, raw, b"# odd\nsecond version\n")
    out = run("ingest", "--store", "docs", *ODD_NAMES.values())
    assert "does not exist" not in out
    assert {p: d["chunk_count"] for p, d in _docs(service).items()} == {p: 1 for p in ODD_NAMES.values()}
    hits = service.search("second version", stores=["docs"], top_k=5).hits
    assert {h.path for h in hits} == set(ODD_NAMES.values())
    assert all("first version" not in h.text for h in hits)
    # ...and so is a deletion.
    os.unlink(os.path.join(os.fsencode(repo), b"new\nline.md"))
    run("ingest", "--store", "docs", "new\\x0aline.md")
    assert set(_docs(service)) == {"caf\\xe9.md", "back\\\\slash.md"}


def test_the_watcher_with_odd_names(repo, service_factory):
    from core.watch import Watcher
    from test_watch import wait_for

    write_files(repo, {"a.md": "# a\nalpha\n"})
    service = service_factory(repo)
    shown: list[list[str]] = []
    watcher = Watcher(service, debounce_ms=50, on_batch=lambda state, report: shown.append(list(state.last_paths)))
    watcher.start()
    try:
        wait_for(lambda: watcher.state.batches >= 1 and watcher.state.status == "idle", what="catch-up")
        for raw in ODD_NAMES:
            _make_odd(repo, raw, b"# odd\nthe heron version one\n")
        wait_for(lambda: set(ODD_NAMES.values()) <= set(_docs(service)), what="odd names ingested")
        hashes = {p: _docs(service)[p]["content_hash"] for p in ODD_NAMES.values()}
        for raw in ODD_NAMES:
            _make_odd(repo, raw, b"# odd\nthe heron version two\n")
        wait_for(lambda: all(_docs(service)[p]["content_hash"] != h for p, h in hashes.items()), what="edits")
        for raw in ODD_NAMES:
            os.unlink(os.path.join(os.fsencode(repo), raw))
        wait_for(lambda: set(_docs(service)) == {"a.md"}, what="deletions")
        wait_for(lambda: watcher.state.status == "idle", what="idle")
        assert watcher.state.last_error == ""
    finally:
        assert watcher.stop()
    paths = [p for batch in shown for p in batch]
    assert set(ODD_NAMES.values()) <= set(paths)
    assert all(p.isprintable() and p.encode("utf-8") for p in paths)  # printable, one line, storable
