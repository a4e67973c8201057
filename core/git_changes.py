"""What a range of commits changed, from git itself: the input of `lightfast ingest --since`.

`git diff --name-status -z -M SINCE UNTIL`, run in the repo root with `--relative`
(so a root below the git top level sees only its own files, relative to itself).
Names come back as raw bytes (-z: no quoting) and are turned into Lightfast's
stored form (core.scan.escape_path), so a name that is not UTF-8 is the same
path the scan and the mirror use. A rename or copy counts as its old path
(whose vectors go) and its new path (ingested); a type change as a change.

Ingest reads the files on disk, so UNTIL must be what is checked out (HEAD):
another commit is refused rather than ingested from the wrong tree.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import GitError
from core.scan import escape_path

GIT_TIMEOUT_S = 120.0
_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")
#: The "before" of a push that created a branch: there is no previous commit.
ZERO_SHA = "0" * 40


@dataclass(frozen=True)
class Change:
    status: str  # A added, M modified, D deleted, R renamed, C copied, T type changed
    path: str  # stored form, relative to the repo root: the new path of a rename or copy
    old_path: str | None = None  # a rename's or copy's source


@dataclass
class GitChanges:
    since: str
    until: str
    since_sha: str
    until_sha: str
    changes: list[Change] = field(default_factory=list)

    def paths(self) -> set[str]:
        """Every stored path to bring in line: new and changed files, deleted ones, and the old
        path of a rename (not of a copy: a copy's source is still there, unchanged)."""
        out = {c.path for c in self.changes}
        out.update(c.old_path for c in self.changes if c.status == "R" and c.old_path)
        return out

    def counts(self) -> dict[str, int]:
        names = {"A": "added", "M": "modified", "D": "deleted", "R": "renamed", "C": "copied", "T": "modified"}
        out: dict[str, int] = {}
        for c in self.changes:
            out[names.get(c.status, c.status)] = out.get(names.get(c.status, c.status), 0) + 1
        return out


def redact(text: str) -> str:
    """Text without credentials in URLs (https://user:token@host -> https://***@host)."""
    return _CREDENTIALS.sub("***@", text)


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run git in root; GitError (with git's own words) when it is missing or fails."""
    if shutil.which("git") is None:
        raise GitError("git is not installed (or not on PATH): --since needs it")
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, env=env,
                              timeout=GIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise GitError(f"`git {' '.join(args[:2])}` in {root} took over {GIT_TIMEOUT_S:.0f} s; gave up") from None
    if check and done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        said = redact(said[-1]) if said else done.returncode  # a remote's URL may carry a token
        raise GitError(f"`git {' '.join(args[:3])}` failed in {root}: {said}")
    return done


def check_repository(root: Path) -> None:
    """GitError unless root is inside a git work tree."""
    done = git(root, "rev-parse", "--is-inside-work-tree", check=False)
    if done.returncode != 0 or done.stdout.strip() != b"true":
        raise GitError(f"{root} is not inside a git repository: --since needs git history "
                       "(run `git init`, or ingest without --since)")


def resolve_commit(root: Path, rev: str, what: str = "revision") -> str:
    """The full sha of rev; GitError naming it when git does not know it."""
    if not rev or rev.startswith("-") or "\0" in rev:
        raise GitError(f"{what} {rev!r} is not a revision: give a commit, branch or tag")
    done = git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}", check=False)
    if done.returncode != 0:
        raise GitError(f"unknown {what} '{rev}' in the git repository at {root}: give a commit, branch "
                       "or tag that exists here (`git log --oneline` lists them; a shallow clone may "
                       "need `git fetch --deepen` or `fetch-depth: 0`)")
    return done.stdout.decode().strip()


def changes_since(root: Path, since: str, until: str | None = None) -> GitChanges:
    """What SINCE..UNTIL (default: HEAD) changed under root; see the module doc."""
    root = Path(root)
    check_repository(root)
    since_sha = resolve_commit(root, since, "--since revision")
    head = resolve_commit(root, "HEAD", "HEAD")
    until_sha = resolve_commit(root, until, "--until revision") if until else head
    if until_sha != head:
        raise GitError(f"--until {until} is {until_sha[:12]} but the checkout at {root} is {head[:12]}: ingest "
                       f"reads the files on disk, so check out {until} first (`git checkout {until}`)")
    out = git(root, "diff", "--name-status", "-z", "-M", "--relative", "--no-ext-diff", since_sha, until_sha).stdout
    return GitChanges(since, until or "HEAD", since_sha, until_sha, parse_name_status(out))


def parse_name_status(raw: bytes) -> list[Change]:
    """`git diff --name-status -z` output: STATUS NUL PATH NUL, or for R/C: STATUS NUL OLD NUL NEW NUL."""
    fields = raw.split(b"\0")
    if fields and fields[-1] == b"":
        fields.pop()
    changes: list[Change] = []
    i = 0
    while i < len(fields):
        status = fields[i].decode("ascii", errors="replace")[:1]
        if status in ("R", "C"):
            old, new = fields[i + 1], fields[i + 2]
            changes.append(Change(status, _stored(new), _stored(old)))
            i += 3
        else:
            changes.append(Change(status, _stored(fields[i + 1])))
            i += 2
    return changes


def _stored(name: bytes) -> str:
    return escape_path(os.fsdecode(name))
