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
    assert set(service.mirror.documents(record["id"])) == {"ok.md", "caf\\xe9.md"}
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
