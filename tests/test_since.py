"""`lightfast ingest --since REV [--until REV]`: exactly what git says changed, on real git repos."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from click.testing import CliRunner

from conftest import make_config, write_files
from core.errors import GitError
from core.git_changes import parse_name_status
from lightfast_cli.main import cli

ODD = b"caf\xe9 notes.md"  # Latin-1 e-acute: not UTF-8


def git(root, *args) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, env=env, check=True)
    return done.stdout.decode().strip()


def commit(root, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)
    return git(root, "rev-parse", "HEAD")


def init_repo(root) -> None:
    git(root, "init", "-q", "-b", "main")


def docs(service) -> dict[str, dict]:
    record = service.namespace_records("store", ["docs"])[0]
    return service.mirror.documents(record.id)


@pytest.fixture
def repo_git(repo, service_factory):
    init_repo(repo)
    write_files(repo, {"docs/keep.md": "# Keep\n\nthe heron waits\n", "docs/edit.md": "# Edit\n\nfirst words\n",
                       "docs/gone.md": "# Gone\n\nsoon deleted\n", "docs/old.md": "# Old\n\nrenamed later\n",
                       "src/a.py": "def a():\n    return 1\n"})
    make_config(repo)
    base = commit(repo, "base")
    service = service_factory(repo)
    service.ingest()
    return repo, service, base


def test_edit_add_delete_and_rename_exactly(repo_git, hash_embedder):
    repo, service, base = repo_git
    before = docs(service)
    (repo / "docs/edit.md").write_text("# Edit\n\nsecond words entirely\n")
    write_files(repo, {"docs/new.md": "# New\n\na pelican arrives\n"})
    (repo / "docs/gone.md").unlink()
    git(repo, "mv", "docs/old.md", "docs/renamed.md")
    commit(repo, "change")
    # A file edited on disk but not in the range: --since must leave it alone.
    (repo / "docs/keep.md").write_text("# Keep\n\nan uncommitted edit\n")
    texts_before = hash_embedder.texts_embedded
    report, changes = service.ingest_since(base)
    assert changes.counts() == {"added": 1, "modified": 1, "deleted": 1, "renamed": 1}
    assert changes.paths() == {"docs/edit.md", "docs/new.md", "docs/gone.md", "docs/old.md", "docs/renamed.md"}
    after = docs(service)
    assert set(after) == {"docs/keep.md", "docs/edit.md", "docs/new.md", "docs/renamed.md"}
    assert after["docs/keep.md"]["content_hash"] == before["docs/keep.md"]["content_hash"]  # not re-read
    assert after["docs/edit.md"]["content_hash"] != before["docs/edit.md"]["content_hash"]
    totals = report.totals()
    assert (totals["added"], totals["changed"], totals["removed"]) == (2, 1, 2)  # new + renamed; edit; gone + old
    assert hash_embedder.texts_embedded > texts_before
    hits = service.search("pelican arrives", stores=["docs"], top_k=1).hits
    assert hits[0].path == "docs/new.md"
    assert not any(h.path in ("docs/gone.md", "docs/old.md")
                   for h in service.search("soon deleted renamed later", stores=["docs"], top_k=10).hits)


def test_globs_apply_a_rename_out_of_a_store_only_removes(repo_git):
    repo, service, base = repo_git
    git(repo, "mv", "docs/old.md", "docs/old.txt")  # no store takes *.txt
    commit(repo, "rename out")
    report, _ = service.ingest_since(base)
    assert "docs/old.md" not in docs(service) and "docs/old.txt" not in docs(service)
    assert report.totals()["removed"] == 1 and report.totals()["added"] == 0


def test_non_utf8_file_name(repo_git):
    repo, service, base = repo_git
    with open(os.path.join(os.fsencode(repo), b"docs", ODD), "wb") as f:
        f.write(b"# Cafe\n\nthe espresso machine hums\n")
    first = commit(repo, "odd name")
    service.ingest_since(base)
    assert "docs/caf\\xe9 notes.md" in docs(service)
    assert service.search("espresso machine", stores=["docs"], top_k=1).hits[0].path == "docs/caf\\xe9 notes.md"
    os.unlink(os.path.join(os.fsencode(repo), b"docs", ODD))
    commit(repo, "drop it")
    report, changes = service.ingest_since(first)
    assert changes.counts() == {"deleted": 1}
    assert "docs/caf\\xe9 notes.md" not in docs(service) and report.totals()["removed"] == 1


def test_nothing_changed_runs_nothing(repo_git):
    repo, service, base = repo_git
    runs = len(service.mirror.rows("SELECT id FROM ingest_runs"))
    report, changes = service.ingest_since("HEAD")
    assert changes.changes == [] and report.stores == []
    assert len(service.mirror.rows("SELECT id FROM ingest_runs")) == runs  # not a whole-repo ingest


def test_root_below_the_git_top_level(tmp_path, service_factory):
    top = tmp_path / "mono"
    top.mkdir()
    init_repo(top)
    root = top / "service"
    write_files(top, {"outside.md": "# Outside\n\nnot ours\n", "service/docs/a.md": "# A\n\nalpha\n"})
    make_config(root)
    base = commit(top, "base")
    service = service_factory(root)
    service.ingest()
    write_files(top, {"outside.md": "# Outside\n\nchanged\n", "service/docs/b.md": "# B\n\nbeta\n"})
    commit(top, "two")
    _, changes = service.ingest_since(base)
    assert changes.paths() == {"docs/b.md"}  # relative to the root, and nothing from outside it
    assert set(docs(service)) == {"docs/a.md", "docs/b.md"}


def test_until_must_be_the_checkout(repo_git):
    repo, service, base = repo_git
    write_files(repo, {"docs/later.md": "# Later\n"})
    commit(repo, "later")
    assert service.ingest_since(base, "HEAD")[1].counts() == {"added": 1}
    with pytest.raises(GitError, match=r"check out .* first"):
        service.ingest_since(base, base)


def test_cli_since_json_and_clear_errors(repo_git, monkeypatch, tmp_path, service_factory):
    repo, service, base = repo_git
    import core.factory

    monkeypatch.setattr(core.factory, "make_embedder", lambda profile: service.embedder)
    monkeypatch.chdir(repo)
    write_files(repo, {"docs/cli.md": "# CLI\n\nfrom the command line\n"})
    commit(repo, "cli")
    runner = CliRunner()
    result = runner.invoke(cli, ["ingest", "--since", base, "--json", "-q"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["git"]["changes"] == {"added": 1} and data["git"]["since"] == base
    assert data["totals"]["added"] == 1

    bad = runner.invoke(cli, ["ingest", "--since", "no-such-rev"], env={"COLUMNS": "80"})
    assert bad.exit_code == 2 and "unknown --since revision 'no-such-rev'" in bad.output
    assert runner.invoke(cli, ["ingest", "--until", "HEAD"]).exit_code != 0
    both = runner.invoke(cli, ["ingest", "--since", base, "docs"])
    assert both.exit_code != 0 and "without PATHS" in both.output

    plain = tmp_path / "plain"
    plain.mkdir()
    write_files(plain, {"a.md": "# A\n"})
    make_config(plain)
    monkeypatch.chdir(plain)
    result = runner.invoke(cli, ["ingest", "--since", "HEAD~1"], env={"COLUMNS": "80"})
    assert result.exit_code == 2 and "is not inside a git repository" in result.output


def test_parse_name_status_keeps_raw_names_and_renames():
    raw = b"M\0a.md\0R087\0old name.md\0new\nname.md\0D\0caf\xe9.md\0A\0b.md\0"
    changes = parse_name_status(raw)
    assert [(c.status, c.path, c.old_path) for c in changes] == [
        ("M", "a.md", None), ("R", "new\\x0aname.md", "old name.md"), ("D", "caf\\xe9.md", None), ("A", "b.md", None)]


def test_ingest_paths_takes_a_non_utf8_name_too(repo, service_factory):
    """`ingest PATHS` selects by the stored form, as --since does (the name given raw, as a shell passes it)."""
    write_files(repo, {"docs/plain.md": "# Plain\n"})
    raw = os.path.join(os.fsencode(repo), b"docs", ODD)
    with open(raw, "wb") as f:
        f.write(b"# Cafe\n\nthe espresso machine hums\n")
    service = service_factory(repo)
    report = service.ingest(paths=[os.fsdecode(raw)])
    assert report.totals()["added"] == 1
    assert set(docs(service)) == {"docs/caf\\xe9 notes.md"}
