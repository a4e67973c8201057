"""Advisory file locks between processes (fcntl.flock).

The kernel drops a flock when its holder dies, so a killed process never
leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from core.errors import LockedError


@contextmanager
def file_lock(path: Path, *, wait: float | None = None, what: str = "this data dir") -> Iterator[None]:
    """Hold an exclusive lock on path.

    wait=None blocks until the lock is free; wait=N gives up after N seconds
    with a LockedError naming the holder's pid.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
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
                        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                        raise LockedError(
                            f"another Lightfast process (pid {holder}) is writing to {what}; "
                            "try again when it finishes"
                        ) from None
                    time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock
