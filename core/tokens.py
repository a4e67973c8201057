"""Bearer tokens for the HTTP MCP server: who may see which workspaces (the design's access check).

The tokens file (default `$LIGHTFAST_HOME/tokens.json`) maps the SHA-256 of each
token to its grant: an organization, the workspaces it may read, and whether it
may write (ingest). The token itself is shown once, when it is made, and never
stored: a copy of the file lets nobody in. The file is rewritten whole (temp
file + rename, mode 0600) under a file lock, so `add` and `revoke` from two
shells never lose each other's change, and a running server sees a change at
its next request (it re-reads the file when its size or mtime moves).

The grant in force for the current request is a context variable: the MCP
server sets it around each tool call and resource read; the service's access
check (`Lightfast.namespace_records`, `ingest`) reads it. Outside such a
block nothing is restricted (the CLI, the TUI, the stdio server).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from core.errors import NamingError, NotFoundError, ScopeError, TokenFileError
from core.locks import file_lock
from core.naming import sanitize_part

TOKENS_FILENAME = "tokens.json"
TOKEN_PREFIX = "lft_"
_VERSION = 1


def tokens_path(home: Path | None = None) -> Path:
    """Where the tokens file lives by default: beside the mirror in the data dir."""
    from core.paths import data_dir

    return (home or data_dir()) / TOKENS_FILENAME


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _folded(value: str, what: str) -> str:
    """Organizations and workspaces compare as their namespace parts do ('Web-App' is 'webapp')."""
    try:
        return sanitize_part(value, what)
    except NamingError as exc:
        raise ScopeError(str(exc)) from None


@dataclass(frozen=True)
class Grant:
    """What one token may do: read these workspaces of this organization, and write them unless read_only."""

    token_id: str
    organization: str
    workspaces: tuple[str, ...]
    read_only: bool = False

    def allows_organization(self, organization: str) -> bool:
        return _folded(self.organization, "organization") == _folded(organization, "organization")

    def allows_workspace(self, workspace: str) -> bool:
        wanted = _folded(workspace, "workspace")
        return any(_folded(w, "workspace") == wanted for w in self.workspaces)

    def describe(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        return f"token {self.token_id} ({self.organization}: {', '.join(self.workspaces)}; {mode})"


@dataclass(frozen=True)
class TokenEntry:
    """One line of the tokens file; `sha256` is the token's hash, never the token."""

    id: str
    sha256: str
    organization: str
    workspaces: list[str]
    read_only: bool = False
    label: str = ""
    created_at: str = ""

    def grant(self) -> Grant:
        return Grant(self.id, self.organization, tuple(self.workspaces), self.read_only)


@dataclass
class TokenFile:
    """The tokens file: read, checked, and rewritten whole."""

    path: Path
    entries: list[TokenEntry] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> "TokenFile":
        """The file's entries; none when it does not exist. A damaged file is a TokenFileError
        naming the file, the line when there is one, and how to recover."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise TokenFileError(f"{path}: cannot be read ({exc})") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TokenFileError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); {_RECOVER}") from None
        return cls(path, _entries(data, path))

    def save(self) -> None:
        data = {"version": _VERSION, "tokens": [asdict(e) for e in self.entries]}
        tmp = self.path.with_name(self.path.name + ".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)

    def verify(self, token: str) -> Grant | None:
        """The grant of this token, or None. Compares hashes in constant time."""
        digest = token_hash(token)
        found = None
        for entry in self.entries:
            if hmac.compare_digest(entry.sha256, digest):
                found = entry
        return found.grant() if found else None


_RECOVER = "fix it, or move it away and make new tokens with `lightfast tokens add`"


def _entries(data, path: Path) -> list[TokenEntry]:
    if not isinstance(data, dict) or not isinstance(data.get("tokens"), list):
        raise TokenFileError(f"{path}: expected {{\"version\": 1, \"tokens\": [...]}}; {_RECOVER}")
    if data.get("version") != _VERSION:
        raise TokenFileError(f"{path}: version {data.get('version')!r} is not one this lightfast reads "
                             f"({_VERSION}); {_RECOVER}")
    out, seen = [], set()
    for n, raw in enumerate(data["tokens"]):
        where = f"{path}: tokens[{n}]"
        if not isinstance(raw, dict):
            raise TokenFileError(f"{where}: expected an object; {_RECOVER}")
        try:
            entry = TokenEntry(**raw)
        except TypeError as exc:
            raise TokenFileError(f"{where}: {exc}; {_RECOVER}") from None
        problems = []
        if not isinstance(entry.id, str) or not entry.id:
            problems.append("id must be a non-empty string")
        if not (isinstance(entry.sha256, str) and len(entry.sha256) == 64
                and all(c in "0123456789abcdef" for c in entry.sha256)):
            problems.append("sha256 must be 64 lowercase hex digits")
        if not isinstance(entry.organization, str) or not entry.organization.strip():
            problems.append("organization must be a non-empty string")
        if not (isinstance(entry.workspaces, list) and entry.workspaces
                and all(isinstance(w, str) and w.strip() for w in entry.workspaces)):
            problems.append("workspaces must be a non-empty list of names")
        if not isinstance(entry.read_only, bool):
            problems.append("read_only must be true or false")
        if entry.id in seen:
            problems.append(f"id {entry.id!r} is used twice")
        if problems:
            raise TokenFileError(f"{where}: {'; '.join(problems)}; {_RECOVER}")
        seen.add(entry.id)
        out.append(entry)
    return out


# -- making, listing and revoking (the `lightfast tokens` commands) -------------------------

@contextmanager
def _locked(path: Path) -> Iterator[TokenFile]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(path.with_name(path.name + ".lock"), what=str(path)):
        yield TokenFile.load(path)


def add_token(path: Path, organization: str, workspaces: Iterable[str], read_only: bool = False,
              label: str = "") -> tuple[str, TokenEntry]:
    """Make a token, store only its hash; returns (the token, shown once, and its entry)."""
    workspaces = list(dict.fromkeys(workspaces))
    if not workspaces:
        raise ScopeError("a token needs at least one workspace (--workspace W)")
    _folded(organization, "organization")
    for w in workspaces:
        _folded(w, "workspace")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with _locked(path) as tokens:
        taken = {e.id for e in tokens.entries}
        token_id = "tok_" + secrets.token_hex(4)
        while token_id in taken:
            token_id = "tok_" + secrets.token_hex(4)
        entry = TokenEntry(token_id, token_hash(token), organization, workspaces, read_only, label,
                           datetime.now(timezone.utc).isoformat(timespec="seconds"))
        tokens.entries.append(entry)
        tokens.save()
    return token, entry


def revoke_token(path: Path, token_id: str) -> TokenEntry:
    with _locked(path) as tokens:
        found = next((e for e in tokens.entries if e.id == token_id), None)
        if found is None:
            known = ", ".join(e.id for e in tokens.entries) or "none"
            raise NotFoundError(f"no token with id '{token_id}' in {path} (known: {known}); "
                                "`lightfast tokens list` shows them")
        tokens.entries.remove(found)
        tokens.save()
    return found


class TokenStore:
    """The tokens file as a running server reads it: re-read when it changes on disk (every save
    is a rename, so a new inode; mtime and size besides). Called from worker threads."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._file = TokenFile(self.path)

    def current(self) -> TokenFile:
        with self._lock:
            try:
                st = os.stat(self.path)
                stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            except FileNotFoundError:
                stamp = None
            if stamp != self._stamp:
                self._file = TokenFile.load(self.path)
                self._stamp = stamp
            return self._file

    def configured(self) -> bool:
        return bool(self.current().entries)

    def verify(self, token: str) -> Grant | None:
        return self.current().verify(token)


# -- the grant in force for the current request ------------------------------------------

_current: ContextVar[Grant | None] = ContextVar("lightfast_grant", default=None)


def current_grant() -> Grant | None:
    """The grant of the request being served; None when nothing restricts this call."""
    return _current.get()


@contextmanager
def granted(grant: Grant | None) -> Iterator[None]:
    """Run a block under a token's grant (None: unrestricted)."""
    reset = _current.set(grant)
    try:
        yield
    finally:
        _current.reset(reset)
