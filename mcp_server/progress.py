"""Core's ingest progress reports as MCP progress: chunks embedded of chunks to embed, over the run.

One notification per embedder batch (core sends one "embed" report per batch).
Over a multi-store run the numbers are cumulative: progress is every store's
chunks embedded so far, total the sum of the totals known so far (a store's
total grows while its files are still being read, and the message marks it
with a +). Progress strictly increases from one notification to the next, as
the MCP spec asks; the total never shrinks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Progress = Any  # core.ingest.Progress, as the service's progress callback receives it


@dataclass(frozen=True)
class Notice:
    progress: int
    total: int
    message: str


class ProgressRelay:
    def __init__(self):
        self.done: dict[str, int] = {}
        self.totals: dict[str, int] = {}
        self.sent: int | None = None  # the last progress value notified

    @property
    def embedded(self) -> int:
        return sum(self.done.values())

    @property
    def total(self) -> int:
        return sum(self.totals.values())

    def status(self, p: Progress) -> str:
        """The line ingest_status shows for any report, every stage included."""
        if p.stage == "embed":
            grows = "" if p.total_final else "+"  # files still being read: the total counts those read so far
            return (f"{p.store}: embedding, {p.done}/{p.total}{grows} chunks of this store; "
                    f"{self.embedded}/{self.total}{grows} chunks of the run{_speed(p)}")
        if p.stage == "scan":
            return f"{p.store}: preparing files {p.done}/{p.total} {p.message}".strip()
        return f"{p.store}: {p.stage} {p.message}".strip()

    def feed(self, p: Progress) -> Notice | None:
        """Take one report; the notification to send, or None when progress did not move."""
        if p.stage not in ("embed", "done"):
            return None
        self.totals[p.store] = max(p.total, self.totals.get(p.store, 0))
        self.done[p.store] = max(p.done, self.done.get(p.store, 0))
        value = self.embedded
        if p.stage != "embed" or not self.total or (self.sent is not None and value <= self.sent):
            return None  # a 0/0 would tell the client nothing (and some divide by it)
        self.sent = value
        return Notice(value, self.total, self.status(p)[:200])


def _speed(p: Progress) -> str:
    if not p.rate:
        return ""
    eta = f", about {p.eta_s:.0f} s left" if p.eta_s is not None else ""
    return f" ({p.rate:.1f} chunks/s{eta})" if p.rate < 10 else f" ({p.rate:.0f} chunks/s{eta})"
