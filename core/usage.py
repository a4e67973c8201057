"""Billed usage as the services report it: Pinecone read units, Cohere tokens and search units.

Pinecone's query, fetch and list responses carry `usage.read_units`; its upsert
responses carry nothing (the SDK's UpsertResponse has only `upserted_count`), so
write units stay an estimate. Cohere's embed and rerank responses carry
`meta.billed_units.input_tokens` and `.search_units`.

The backends call `record(...)` with what a response reported; whoever wants the
figures for a piece of work opens `metering()` around it, in the thread that does
the work (a context variable: a thread pool's workers open their own). Several
meters may be open at once (nested); each sees what was recorded while it was open.
A kind nobody reported stays None: "not reported" (the local backend) is not 0.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Iterator

KINDS = ("read_units", "embed_tokens", "rerank_units")


@dataclass
class Usage:
    """What the services reported for one piece of work; None: nothing reported that kind."""

    read_units: float | None = None
    """Pinecone read units (queries, fetches, id listings)."""
    embed_tokens: float | None = None
    """Cohere embed input tokens billed."""
    rerank_units: float | None = None
    """Cohere rerank search units billed."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, kind: str, amount: float | None) -> None:
        if amount is None:
            return
        with self._lock:
            setattr(self, kind, (getattr(self, kind) or 0) + float(amount))

    def to_dict(self) -> dict[str, float | None]:
        return {k: getattr(self, k) for k in KINDS}


_meters: ContextVar[tuple[Usage, ...]] = ContextVar("lightfast_usage_meters", default=())


@contextmanager
def metering() -> Iterator[Usage]:
    """A Usage that collects what is recorded in this context until the block ends."""
    usage = Usage()
    token = _meters.set(_meters.get() + (usage,))
    try:
        yield usage
    finally:
        _meters.reset(token)


def record(**amounts: float | None) -> None:
    """Add reported amounts (read_units=, embed_tokens=, rerank_units=) to every open meter."""
    for kind in amounts:
        if kind not in KINDS:
            raise ValueError(f"unknown usage kind {kind!r}; one of {KINDS}")
    for meter in _meters.get():
        for kind, amount in amounts.items():
            meter.add(kind, amount)


def reported(value: Any, *path: str) -> float | None:
    """A number found by attribute path on a response (None when any step is missing)."""
    for name in path:
        value = getattr(value, name, None)
        if value is None:
            return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
