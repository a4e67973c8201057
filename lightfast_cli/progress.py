"""Ingest progress on stderr: a rich bar per store on a terminal, plain lines otherwise.

Both are fed core.ingest.Progress events. The plain form prints a stage change at once
and otherwise at most one line every PLAIN_EVERY_S per store, so a log stays short.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn

from lightfast_cli.layout import say

if TYPE_CHECKING:
    from core.types import Progress as IngestProgress

#: Seconds between two plain progress lines of the same store and stage.
PLAIN_EVERY_S = 2.0

_UNITS = {"scan": "files", "embed": "chunks", "delete": "files", "recover": "vectors"}


def describe(p: IngestProgress) -> str:
    """One line for a progress event: 'docs: embed 256/1,024 chunks, 85 chunks/s, ETA 9 s'.

    While files are still being read the total is what was found so far:
    'docs: embed 256/700+ chunks, read 40/120 files, 85 chunks/s' (no ETA, so it fits 80 columns)"""
    if p.stage == "done":
        return f"{p.store}: done: {p.message}"
    text = f"{p.store}: {p.stage} {_count(p)}"
    if p.stage == "embed":
        if p.rate:
            text += f", {p.rate:,.1f} chunks/s" if p.rate < 10 else f", {p.rate:,.0f} chunks/s"
        if p.eta_s is not None and p.done < p.total:
            text += f", ETA {_duration(p.eta_s)}"
        if p.vectors_written and p.total_final:
            text += f", {p.vectors_written:,} vectors written"
    return text


class PlainProgress:
    """Periodic lines: every stage change, then at most one line per PLAIN_EVERY_S per store."""

    def __init__(self, write: Callable[[str], None], clock: Callable[[], float] = time.monotonic,
                 every_s: float = PLAIN_EVERY_S):
        self.write, self.clock, self.every_s = write, clock, every_s
        self._last: dict[str, tuple[str, float]] = {}  # store -> (stage, when printed)

    def __call__(self, p: IngestProgress) -> None:
        now = self.clock()
        stage, at = self._last.get(p.store, ("", float("-inf")))
        if p.stage == stage and now - at < self.every_s:
            return
        self._last[p.store] = (p.stage, now)
        self.write(describe(p))


class BarProgress:
    """A rich progress bar per store: files while scanning, then chunks embedded of the total,
    with core's rate and ETA."""

    def __init__(self, console: Console):
        self.bars = Progress(
            TextColumn("[bold]{task.fields[store]}"), TextColumn("{task.fields[stage]:<5}"),
            BarColumn(bar_width=None), TextColumn("{task.fields[count]}"), TextColumn("{task.fields[speed]}"),
            console=console, transient=False, expand=False,
        )
        self.tasks: dict[str, int] = {}

    def __call__(self, p: IngestProgress) -> None:
        if p.store not in self.tasks:
            self.tasks[p.store] = self.bars.add_task("", total=None, store=escape(p.store), stage="", speed="",
                                                     count="")
        task = self.tasks[p.store]
        speed = ""
        if p.stage == "embed" and p.rate:
            speed = f"{p.rate:,.1f} chunks/s" if p.rate < 10 else f"{p.rate:,.0f} chunks/s"
            if p.eta_s is not None and p.done < p.total:
                speed += f" ETA {_duration(p.eta_s)}"
        count = _count(p, "chunks")
        if p.stage == "done":  # the summary follows on stdout; the bar shows chunks embedded
            self.bars.update(task, total=1, completed=1, stage="done", speed="", count=count)
        else:  # a total still growing shows as a bar without an end, never a wrong fraction
            known = p.total and p.total_final
            self.bars.update(task, total=max(p.total, 1) if known else None, completed=p.done,
                             stage=p.stage, speed=speed, count=count)


@contextmanager
def ingest_progress(console: Console, mode: str) -> Iterator[Callable[[IngestProgress], None] | None]:
    """mode: 'bar' (a terminal), 'lines' (a pipe or log), or 'off'."""
    if mode == "off":
        yield None
    elif mode == "lines":
        yield PlainProgress(lambda line: say(console, line))  # wrapped: a log line fits the terminal too
    else:
        renderer = BarProgress(console)
        with renderer.bars:
            yield renderer


def _count(p: IngestProgress, unit: str = "") -> str:
    """'256/1,024 chunks', or '256/700+ chunks, read 40/120 files' while the total still grows."""
    unit = _UNITS.get(p.stage, unit)
    if p.total_final:
        return f"{p.done:,}/{p.total:,} {unit}".rstrip()
    return f"{p.done:,}/{p.total:,}+ {unit}, read {p.files_read:,}/{p.files_total:,} files".replace("  ", " ")


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
