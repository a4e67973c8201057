"""The one repo-root check for user-given ingest paths (core.repo_paths), used by every face."""

from __future__ import annotations

import pytest

from core.errors import LightfastError
from core.repo_paths import PathOutsideRepoError, relative_in_root, resolve_in_root


def test_inside_paths_become_repo_relative(repo):
    (repo / "docs").mkdir()
    assert relative_in_root(repo, ["docs", "docs/a.md", str(repo / "b.md"), "docs/../c.md"]) == {
        "docs", "docs/a.md", "b.md", "c.md"}
    assert relative_in_root(repo, ["gone.md"]) == {"gone.md"}  # a deleted file still names its vectors


@pytest.mark.parametrize("given", [[], ["."], ["docs", "."]])
def test_the_root_itself_means_the_whole_repo(repo, given):
    assert resolve_in_root(repo, given) is None and relative_in_root(repo, given) is None


@pytest.mark.parametrize("given, words", [
    ("../etc", "outside the repository root"),
    ("/etc/passwd", "outside the repository root"),
    ("", "empty"),
    ("a\x00b", "NUL"),
])
def test_refused_paths_say_why(repo, given, words):
    with pytest.raises(PathOutsideRepoError, match=words) as info:
        resolve_in_root(repo, [given])
    assert isinstance(info.value, LightfastError) and info.value.exit_code == 6


def test_a_symlink_out_of_the_repo_is_refused(repo, tmp_path):
    (tmp_path / "outside").mkdir()
    (repo / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(PathOutsideRepoError, match="through a symlink"):
        resolve_in_root(repo, ["link"])


def test_service_ingest_refuses_before_taking_the_lock(repo, service_factory):
    service = service_factory(repo)
    with pytest.raises(PathOutsideRepoError):
        service.ingest(paths=["../elsewhere"])
