"""Find a store's files in the repo: globs, .gitignore, and what must never be ingested.

.gitignore files are honoured as git does: every directory's own file, rules
relative to it, the last matching rule winning (so `!` re-includes), and an
ignored directory pruned whole. Secrets are refused by name here and by
content in `secret_in_text` (core/secret_scan.py, once a file is read).
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pathspec

from core.secret_scan import SECRET_PATTERNS, secret_in_text  # noqa: F401  (part of this module's API)

# Never descended into, whatever .gitignore says.
DEFAULT_IGNORED_DIRS = {
    ".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".nox", ".lightfast",
    ".idea", ".eggs", "site-packages",
}

SECRET_NAMES = [
    ".env", ".env.*", "*.env", "*.pem", "*.key", "*.p12", "*.pfx", "*.keystore", "*.jks",
    "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", ".netrc", ".pgpass", ".htpasswd",
    "credentials", "credentials.json", "*.tfstate", "*.tfvars", "secrets.*",
]

# -- file names are bytes ----------------------------------------------------------------------------
#
# The OS allows any bytes but '/' and NUL in a name, and os.walk hands undecodable
# bytes over as lone surrogates (surrogateescape), which neither SQLite, JSON nor a
# terminal accepts. Every path Lightfast keeps or shows is therefore the *stored form*:
# the name itself when it is plain UTF-8 text, else with these escapes:
#   \\     a backslash
#   \xNN   one raw byte: a byte that is not UTF-8, or an ASCII control character
#   \uNNNN / \UNNNNNNNN   an invisible or line-breaking character (Unicode Cc, Cf, Zl, Zp)
# It is printable, one line, and reversible: `path_bytes` gives the name's bytes back and
# `repo_file` the file, so ids, mirror rows and displays round-trip any name the OS allows.

def _needs_escape(ch: str) -> bool:
    if ch == "\\":
        return True
    code = ord(ch)
    if code < 0x80:
        return code < 0x20 or code == 0x7F
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp")


def escape_path(raw: str) -> str:
    """The stored form of a name as os.walk / os.fsdecode give it (surrogateescape)."""
    if raw.isascii() and raw.isprintable() and "\\" not in raw:
        return raw  # the common case, unchanged
    out = []
    for ch in raw:
        if not _needs_escape(ch):
            out.append(ch)
        elif ch == "\\":
            out.append("\\\\")
        elif 0xDC80 <= ord(ch) <= 0xDCFF:  # an undecodable byte, as surrogateescape carries it
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "".join(out)


_ESCAPE = re.compile(r"\\(?:(\\)|x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8}))")


def _encode(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate no file name can hold: keep it, never raise
        return text.encode("utf-8", "surrogatepass")


def path_bytes(stored: str) -> bytes:
    """The name's bytes for a stored-form path (a stray backslash stays a backslash)."""
    out = bytearray()
    pos = 0
    for found in _ESCAPE.finditer(stored):
        out += _encode(stored[pos : found.start()])
        backslash, byte, short, long = found.groups()
        if backslash:
            out += b"\\"
        elif byte:
            out.append(int(byte, 16))
        else:
            code = int(short or long, 16)
            out += _encode(chr(code)) if code <= 0x10FFFF else found.group().encode()
        pos = found.end()
    out += _encode(stored[pos:])
    return bytes(out)


def repo_file(root: Path, stored: str) -> Path:
    """The file a stored-form, repo-relative path names."""
    return Path(os.fsdecode(os.fsencode(root) + b"/" + path_bytes(stored)))


#: Start of the reason of a Skipped directory the scan could not list (its path ends in '/').
UNREADABLE_DIR = "unreadable directory"


@dataclass(frozen=True)
class FoundFile:
    path: str  # relative to the repo root, '/'-separated, in stored form (see escape_path)
    abs_path: Path
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Skipped:
    path: str  # stored form, as FoundFile.path
    reason: str


def is_secret_name(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name.lower(), pattern) for pattern in SECRET_NAMES)


def decode_text(data: bytes) -> tuple[str | None, str | None]:
    """(text, None) for a text file, or (None, reason to skip)."""
    if b"\0" in data:  # the whole file: a NUL after the first 8 KB is still binary
        return None, "binary file"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not valid UTF-8 (byte {exc.start})"
    return text.replace("\r\n", "\n").replace("\r", "\n"), None


@dataclass(frozen=True)
class Unusable:
    """Why a found file gives no text: `failed` when it could not be read at all (gone since
    the scan, permissions...), else it was read and refused (binary, not UTF-8, a secret)."""

    reason: str
    failed: bool = False


def read_found(file: FoundFile) -> tuple[bytes, str] | Unusable:
    """A found file's bytes and text, or why it has none: the one check ingest and --plan share."""
    try:
        data = file.abs_path.read_bytes()
    except OSError as exc:  # vanished since the scan, unreadable, a directory now...
        return Unusable(f"unreadable: {exc.strerror or exc.__class__.__name__}", failed=True)
    text, reason = decode_text(data)
    if text is None:
        return Unusable(reason or "not text")
    secret = secret_in_text(text)
    if secret:
        return Unusable(f"secret: {secret}")
    return data, text


class _GitIgnores:
    """The .gitignore specs that apply inside each directory (cached per directory, so a
    check costs the number of .gitignore files above a path, not its depth)."""

    def __init__(self, root: Path):
        self.root = root
        self.specs: dict[str, pathspec.GitIgnoreSpec | None] = {}
        self.chains: dict[str, tuple[tuple[str, pathspec.GitIgnoreSpec], ...]] = {}

    def spec_for(self, rel_dir: str) -> pathspec.GitIgnoreSpec | None:
        if rel_dir not in self.specs:
            file = self.root / rel_dir / ".gitignore"
            try:
                # git splits lines at LF alone (and drops a CR before it); str.splitlines
                # would also split at \v, \f, \x1c-\x1e, \x85, U+2028/9.
                text = file.read_text(encoding="utf-8", errors="replace")
                lines = [line.removesuffix("\r") for line in text.split("\n")]
                self.specs[rel_dir] = pathspec.GitIgnoreSpec.from_lines(lines)
            except OSError:
                self.specs[rel_dir] = None
        return self.specs[rel_dir]

    def chain(self, rel_dir: str) -> tuple[tuple[str, pathspec.GitIgnoreSpec], ...]:
        """(directory, spec) of every .gitignore from the root down to rel_dir; built without recursion."""
        missing = []
        cursor = rel_dir
        while cursor not in self.chains:
            missing.append(cursor)
            if not cursor:
                break
            cursor = cursor.rpartition("/")[0]
        for rel in reversed(missing):
            parent = self.chains.get(rel.rpartition("/")[0], ()) if rel else ()
            spec = self.spec_for(rel)
            self.chains[rel] = parent + ((rel, spec),) if spec is not None else parent
        return self.chains[rel_dir]

    def ignored(self, rel_path: str, is_dir: bool) -> bool:
        verdict = False
        # From the root down to the path's parent; deeper files win.
        for base, spec in self.chain(rel_path.rpartition("/")[0]):
            sub = rel_path[len(base) + 1:] if base else rel_path
            result = spec.check_file(sub + ("/" if is_dir else ""))
            if result.include is not None:
                verdict = result.include
        return verdict


class StoreMatcher:
    """A store's include and exclude globs (gitignore-style wildmatch)."""

    def __init__(self, include: list[str], exclude: list[str]):
        self.include = pathspec.PathSpec.from_lines("gitignore", include)
        self.exclude = pathspec.PathSpec.from_lines("gitignore", exclude)

    def matches(self, rel_path: str) -> bool:
        return self.include.match_file(rel_path) and not self.exclude.match_file(rel_path)


#: Reason of a Skipped file that this process writes its own output into.
OWN_OUTPUT = "this process's own output (stdout or stderr is redirected into it)"


def own_output_files() -> set[tuple[int, int]]:
    """(st_dev, st_ino) of the regular files this process's stdout and stderr go to.

    `lightfast watch 2> w.log` inside the repo: the log is our output, never our input
    (ingesting it made every batch write a line that caused the next batch)."""
    out = set()
    for fd in (1, 2):
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            out.add((st.st_dev, st.st_ino))
    return out


def walk_dirs(top: Path, onerror: Callable[[OSError], None] | None = None) -> Iterator[tuple[str, list[str], list[str]]]:
    """os.walk(top, followlinks=False), top-down, without recursion.

    (os.walk recurses before Python 3.12: ~1,000 nested directories gave RecursionError.)
    As with os.walk, a caller prunes the walk by editing dirnames in place, a symlink to
    a directory is listed in dirnames but never entered, and a directory that cannot be
    listed goes to onerror.
    """
    stack = [os.fspath(top)]
    while stack:
        current = stack.pop()
        dirnames: list[str] = []
        filenames: list[str] = []
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    try:
                        is_dir = entry.is_dir()
                    except OSError:
                        is_dir = False
                    (dirnames if is_dir else filenames).append(entry.name)
        except OSError as exc:
            if onerror is not None:
                onerror(exc)
            continue
        yield current, dirnames, filenames
        for name in reversed(dirnames):  # popped in the order the caller left them
            full = os.path.join(current, name)
            if not os.path.islink(full):
                stack.append(full)


def walk_repo(
    root: Path, max_bytes: int, extra_ignored: tuple[Path, ...] = ()
) -> Iterator[FoundFile | Skipped]:
    """Every candidate file under root (sorted), or why it was passed over.

    Symlinked directories are not followed; a symlinked file is taken only if
    it resolves inside root. Files over max_bytes are skipped.
    """
    root = root.resolve()
    ignores = _GitIgnores(root)
    extra = {p.resolve() for p in extra_ignored}
    own = own_output_files()
    errors: list[OSError] = []  # directories os.walk could not list; reported, never silently empty

    def unreadable() -> Iterator[Skipped]:
        while errors:
            exc = errors.pop(0)
            try:
                rel = Path(exc.filename).relative_to(root).as_posix()
            except (TypeError, ValueError):
                continue
            if rel not in ("", "."):  # the root itself is checked by core.guards.check_root
                yield Skipped(escape_path(rel) + "/", f"{UNREADABLE_DIR} ({exc.strerror or exc.__class__.__name__})")

    for dirpath, dirnames, filenames in walk_dirs(root, errors.append):
        yield from unreadable()
        current = Path(dirpath)
        rel_dir = current.relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        keep = []
        for name in sorted(dirnames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            full = current / name
            # root is resolved and symlinks are never entered, so `full` is already canonical
            if name in DEFAULT_IGNORED_DIRS or full.is_symlink() or full in extra:
                continue
            if ignores.ignored(rel, is_dir=True):
                continue
            keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            raw_rel = f"{rel_dir}/{name}" if rel_dir else name
            if name == ".gitignore" or ignores.ignored(raw_rel, is_dir=False):
                continue
            rel = escape_path(raw_rel)
            full = current / name
            if is_secret_name(name):
                yield Skipped(rel, "secret by name")
                continue
            try:
                if full.is_symlink():
                    target = full.resolve(strict=True)
                    if not target.is_relative_to(root):
                        yield Skipped(rel, "symlink to outside the repo")
                        continue
                info = full.stat()
            except (OSError, RuntimeError) as exc:
                yield Skipped(rel, f"unreadable ({exc.__class__.__name__})")
                continue
            if not os.path.isfile(full):
                yield Skipped(rel, "not a regular file")
                continue
            if (info.st_dev, info.st_ino) in own:
                yield Skipped(rel, OWN_OUTPUT)
                continue
            if info.st_size > max_bytes:
                yield Skipped(rel, f"larger than {max_bytes:,} bytes")
                continue
            yield FoundFile(rel, full, info.st_size, info.st_mtime_ns)
    yield from unreadable()
