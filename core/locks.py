"""Advisory file locks between processes (fcntl.flock).

The kernel drops a flock when its holder dies, so a killed process never
leaves a stale lock behind. The holder writes who it is (pid, command, since
when) into the lock file, so a process that waits can say whom it waits for.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from core.errors import LockedError


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock, as the holder wrote it (fields may be missing while it is being written)."""

    pid: str = "?"
    command: str = ""
    since: float | None = None  # epoch seconds

    def describe(self) -> str:
        """'pid 123 (lightfast ingest, since 08:12)'."""
        parts = [self.command] if self.command else []
        if self.since:
            parts.append("since " + time.strftime("%H:%M", time.localtime(self.since)))
        return f"pid {self.pid}" + (f" ({', '.join(parts)})" if parts else "")


def process_label(argv: list[str] | None = None) -> str:
    """A short name for this process: 'lightfast ingest', 'python -m mcp_server', 'pytest'."""
    argv = list(sys.argv if argv is None else argv)
    if not argv or not argv[0]:
        return "python"
    first = Path(argv[0])
    name = first.name
    if name == "__main__.py":
        name = "lightfast" if first.parent.name == "lightfast_cli" else f"python -m {first.parent.name}"
    elif name == "-c":
        return "python"
    if name != "lightfast":
        return name
    words, skip = [], False
    for arg in argv[1:]:  # the subcommand: the first word that is neither an option nor its value
        if skip:
            skip = False
        elif arg in ("--config", "-c"):
            skip = True
        elif not arg.startswith("-"):
            words.append(arg)
            break
    return " ".join([name, *words])


def read_holder(fd: int) -> LockHolder:
    raw = os.pread(fd, 512, 0).decode(errors="replace").splitlines()
    pid = raw[0].strip() if raw and raw[0].strip() else "?"
    command = raw[1].strip() if len(raw) > 1 else ""
    try:
        since = float(raw[2]) if len(raw) > 2 else None
    except ValueError:
        since = None
    return LockHolder(pid, command, since)


@contextmanager
def file_lock(
    path: Path,
    *,
    wait: float | None = None,
    what: str = "this data dir",
    label: str | None = None,
    on_wait: Callable[[LockHolder], None] | None = None,
) -> Iterator[None]:
    """Hold an exclusive lock on path.

    wait=None blocks until the lock is free; wait=N gives up after N seconds
    (wait=0: at once) with a LockedError naming the holder. on_wait is called
    once, with the holder, when the lock is taken and this process starts to
    wait. label names this process to others (default: process_label()).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = read_holder(fd)
            if wait is not None and wait <= 0:
                raise _locked(holder, what) from None
            if on_wait:
                on_wait(holder)
            if wait is None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            else:
                deadline = time.monotonic() + wait
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() >= deadline:
                            raise _locked(read_holder(fd), what) from None
                        time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n{label or process_label()}\n{time.time():.0f}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _locked(holder: LockHolder, what: str) -> LockedError:
    exc = LockedError(f"another Lightfast process, {holder.describe()}, is writing to {what}; "
                      "try again when it finishes")
    exc.holder = holder  # type: ignore[attr-defined]
    return exc
