"""A typo or an unreadable directory never wipes a store: ingest refuses before it removes anything."""

from __future__ import annotations

import os
import shutil

import pytest

from conftest import make_config, write_files
from core.errors import ConfigError, RemovalRefusedError
from core.guards import FORCE_ENV, check_ingest, would_remove
from core.scan import FoundFile, Skipped

DOCS = {f"notes/n{i}.md": f"# note {i}\nabout topic number {i}\n" for i in range(10)}


def _docs(service) -> set[str]:
    record = service.namespace_records("store", ["docs"])[0]
    return set(service.mirror.documents(record.id))


def _with_root(repo, root: str) -> None:
    path = make_config(repo)
    path.write_text(path.read_text().replace("environment: test\n", f"environment: test\nroot: {root}\n"))


def test_a_missing_root_is_a_config_error_and_removes_nothing(repo, service_factory):
    write_files(repo, DOCS)
    service = service_factory(repo)
    service.ingest()
    before = _docs(service)
    _with_root(repo, "./typo-dir")  # the reproduction
    service = service_factory(repo)
    with pytest.raises(ConfigError) as info:
        service.ingest()
    message = str(info.value)
    assert message.startswith(f"{repo / 'lightfast.yml'}:4: root: the repo root {repo / 'typo-dir'} does not exist")
    assert "nothing was ingested or removed" in message
    assert _docs(service) == before
    assert len(service.search("topic number 3", stores=["docs"]).hits) == 10


def test_a_root_that_is_a_file_is_a_config_error(repo, service_factory):
    write_files(repo, {"a.md": "x", "file.txt": "not a dir"})
    _with_root(repo, "file.txt")
    with pytest.raises(ConfigError, match="file.txt is not a directory"):
        service_factory(repo).ingest()


def test_removing_most_of_a_store_is_refused_unless_forced(repo, service_factory, monkeypatch):
    write_files(repo, DOCS)
    service = service_factory(repo)
    service.ingest()
    for i in range(8):
        os.unlink(repo / f"notes/n{i}.md")
    with pytest.raises(RemovalRefusedError) as info:
        service.ingest()
    message = str(info.value)
    assert "store 'docs': ingest would remove 8 of its 10 documents (e.g. notes/n0.md, notes/n1.md, " \
           "notes/n2.md and 5 more)" in message
    assert f"{FORCE_ENV}=1" in message and "nothing was changed" in message
    assert len(_docs(service)) == 10  # nothing removed
    monkeypatch.setenv(FORCE_ENV, "1")
    assert service.ingest().totals()["removed"] == 8
    assert _docs(service) == {"notes/n8.md", "notes/n9.md"}


def test_ordinary_deletions_pass(repo, service_factory):
    write_files(repo, DOCS)
    service = service_factory(repo)
    service.ingest()
    for i in range(4):  # under half
        os.unlink(repo / f"notes/n{i}.md")
    assert service.ingest().totals()["removed"] == 4
    for i in range(4, 9):  # 5 of 6: most of the store, but only a few documents
        os.unlink(repo / f"notes/n{i}.md")
    assert service.ingest().totals()["removed"] == 5
    shutil.rmtree(repo / "notes")  # the last one
    assert service.ingest().totals()["removed"] == 1


def test_a_glob_edited_by_mistake_is_refused(repo, service_factory):
    write_files(repo, DOCS)
    service = service_factory(repo)
    service.ingest()
    make_config(repo, stores="""
      - slug: docs
        include: ["**/*.markdown"]
      - slug: code
        include: ["**/*.py"]
    """)
    with pytest.raises(RemovalRefusedError, match="would remove 10 of its 10 documents"):
        service_factory(repo).ingest()


def test_documents_under_an_unreadable_directory_are_kept(repo, service_factory):
    # Built from the scan's own report (chmod does not stop root, who runs some CI).
    write_files(repo, DOCS)
    service = service_factory(repo)
    service.ingest()
    found = [item for item in service.scan() if not item.path.startswith("notes/n1")]
    found.append(Skipped("notes/", "unreadable directory (Permission denied)"))
    with pytest.raises(RemovalRefusedError, match=r"cannot read notes under .*remove the 1 document indexed"):
        check_ingest(service.config, service.mirror, service.environment, service.config.stores, found)
    check_ingest(service.config, service.mirror, service.environment, service.config.stores, found, force=True)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 directory")
def test_an_unreadable_directory_through_ingest(repo, service_factory):
    write_files(repo, {**DOCS, "top.md": "# top\n"})
    service = service_factory(repo)
    service.ingest()
    os.chmod(repo / "notes", 0)
    try:
        with pytest.raises(RemovalRefusedError, match="cannot read notes"):
            service.ingest()
    finally:
        os.chmod(repo / "notes", 0o755)
    assert len(_docs(service)) == 11


def test_would_remove_follows_ingests_rule(repo, service_factory):
    store = service_factory(repo).config.store("docs")
    known = {"a.md": {}, "b.md": {}, "big.md": {}, "src/c.md": {}}
    found = [FoundFile("a.md", repo / "a.md", 1, 1), Skipped("big.md", "larger than 1 bytes"),
             FoundFile("x.py", repo / "x.py", 1, 1)]
    assert would_remove(store, known, found) == ["b.md", "big.md", "src/c.md"]
    assert would_remove(store, known, found, only_paths={"src"}) == ["src/c.md"]


def test_the_cli_says_so(repo, service_factory, monkeypatch):
    from click.testing import CliRunner

    from lightfast_cli.main import cli

    write_files(repo, DOCS)
    service_factory(repo).ingest()
    for i in range(8):
        os.unlink(repo / f"notes/n{i}.md")
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(cli, ["ingest", "--store", "docs"])
    assert result.exit_code == 1 and "would remove 8 of its 10 documents" in result.output, result.output
    _with_root(repo, "./typo-dir")
    result = CliRunner().invoke(cli, ["ingest"])
    assert result.exit_code == 2 and "typo-dir does not exist" in result.output, result.output


def test_the_scan_reports_a_directory_it_cannot_list(repo, service_factory, monkeypatch):
    # chmod 000 does not stop root, so the refusal is injected where os.walk lists a directory.
    write_files(repo, {**DOCS, "top.md": "# top\n"})
    service = service_factory(repo)
    service.ingest()
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path).endswith("/notes"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    skipped = [item for item in service.scan() if isinstance(item, Skipped)]
    assert skipped == [Skipped("notes/", "unreadable directory (Permission denied)")]
    with pytest.raises(RemovalRefusedError, match="cannot read notes under .*remove the 10 documents indexed"):
        service.ingest()
    assert len(_docs(service)) == 11


def _plan_output(plan) -> str:
    import io

    from rich.console import Console

    from lightfast_cli.render import print_plan

    console = Console(file=io.StringIO(), width=80, color_system=None)
    print_plan(console, plan)
    return console.file.getvalue()


def test_the_plan_shows_a_refused_removal(repo, service_factory, monkeypatch):
    import json

    from core.plan import plan_ingest

    write_files(repo, DOCS)
    service = service_factory(repo)
    service.ingest()
    for i in range(8):
        os.unlink(repo / f"notes/n{i}.md")
    plan = plan_ingest(service)
    shown = _plan_output(plan)
    assert "docs ingest would be refused: store 'docs': ingest would remove 8 of its 10" in " ".join(shown.split())
    assert all(len(line) <= 80 for line in shown.splitlines()), shown
    docs = next(s for s in json.loads(json.dumps(plan.to_dict()))["stores"] if s["store"] == "docs")  # --json
    assert docs["removed"] == 8 and "would remove 8 of its 10 documents" in docs["refused"]
    assert next(s for s in plan_ingest(service, force=True).stores if s.store == "docs").refused is None
    monkeypatch.setenv(FORCE_ENV, "1")  # the variable forces a plan as it forces a run
    assert next(s for s in plan_ingest(service).stores if s.store == "docs").refused is None
    monkeypatch.delenv(FORCE_ENV)
    assert len(_docs(service)) == 10  # a plan changes nothing

    for i in range(3, 8):  # most files back: an ordinary deletion is shown, not refused
        write_files(repo, {f"notes/n{i}.md": DOCS[f"notes/n{i}.md"]})
    shown = _plan_output(plan_ingest(service))
    assert "docs would remove 3 documents whose files are gone" in shown, shown
    assert "refused" not in shown


def test_the_plan_of_a_missing_root_is_the_same_config_error(repo, service_factory):
    from core.plan import plan_ingest

    write_files(repo, DOCS)
    service_factory(repo).ingest()
    _with_root(repo, "./typo-dir")
    with pytest.raises(ConfigError, match="typo-dir does not exist"):
        plan_ingest(service_factory(repo))
