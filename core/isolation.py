"""`verify isolation`: the design's "cross-namespace contamination" alert, as a check.

A canary record goes into each namespace of this organization and environment
(or a sample), marked with the namespace it was written to. Each namespace is
then queried with canary vectors (all of them for up to 50 namespaces, else
its own and 5 others) and for every canary-marked record; a hit marked with
another namespace is contamination. A namespace whose own canary never shows
up (Pinecone is eventually consistent) is reported as unverified. The canaries
are deleted whatever happens, interrupts included, along with canaries an
earlier killed run left behind.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field

import numpy as np

from core.vectors.base import VectorRecord

MARKER = "lightfast_canary"
CANARY_PREFIX = "lightfast-canary-"
ALL_PROBES_UP_TO = 50
OTHER_PROBES = 5


@dataclass
class IsolationReport:
    namespaces: list[str]
    queries: int = 0
    contaminations: list[str] = field(default_factory=list)  # "queried ns: record 'id' belongs to other ns"
    unverified: list[str] = field(default_factory=list)  # namespaces whose own canary never came back
    leftovers: list[str] = field(default_factory=list)  # canaries that could not be deleted: "ns: id"

    @property
    def ok(self) -> bool:
        return not self.contaminations and not self.unverified


def verify_isolation(service, sample: int | None = None, seed: int | None = None,
                     wait: float | None = None) -> IsolationReport:
    """Check every (or `sample`) namespace of this organization; `wait` is how long a canary may
    take to become visible (default: 30 s on Pinecone, 0 locally)."""
    records = {r.namespace_name: r for r in service.namespace_records("organization")}
    names = sorted(records)
    rng = random.Random(seed)
    if sample is not None and sample < len(names):
        names = sorted(rng.sample(names, sample))
    if wait is None:
        wait = 30.0 if getattr(service.profile, "backend", "local") == "pinecone" else 0.0
    indexes = {ns: service.index_for(records[ns]) for ns in names}  # an overflow namespace: its own index
    vectors = np.random.default_rng(seed).standard_normal((len(names), service.index.dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    run = uuid.uuid4().hex[:12]
    canaries = {ns: f"{CANARY_PREFIX}{run}-{i}" for i, ns in enumerate(names)}
    report = IsolationReport(names)
    to_delete: dict[str, set[str]] = {}
    found: set[str] = set()
    try:
        for i, ns in enumerate(names):
            to_delete.setdefault(ns, set()).add(canaries[ns])  # before the write: it may land and then fail
            indexes[ns].upsert(ns, [VectorRecord(canaries[ns], vectors[i], {MARKER: ns, "text": "isolation canary"})])
        deadline = time.monotonic() + wait
        pending = list(range(len(names)))
        while True:
            for i in pending:
                _check(indexes[names[i]], names, vectors, canaries, i, rng, report, found, to_delete)
            pending = [i for i in pending if names[i] not in found]
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
        report.unverified = [names[i] for i in pending]
        report.contaminations = sorted(set(report.contaminations))
    finally:
        for ns, ids in to_delete.items():
            try:
                indexes[ns].delete(ns, sorted(ids))
            except Exception:  # noqa: BLE001 - keep cleaning the others, then say what is left
                report.leftovers.extend(f"{ns}: {i}" for i in sorted(ids))
    return report


def _check(index, names, vectors, canaries, i, rng, report, found, to_delete) -> None:
    ns = names[i]
    if len(names) <= ALL_PROBES_UP_TO:
        probes = range(len(names))
    else:
        probes = sorted({i, *rng.sample(range(len(names)), OTHER_PROBES)})
    hits = []
    for j in probes:
        hits += index.query(ns, vectors[j], 10)
    hits += index.query(ns, vectors[i], 1000, filter={MARKER: {"$exists": True}})
    report.queries += len(probes) + 1
    for m in hits:
        owner = m.metadata.get(MARKER)
        if owner is None:
            continue
        if owner != ns:
            report.contaminations.append(f"{ns}: record '{m.id}' belongs to {owner}")
        elif m.id == canaries[ns]:
            found.add(ns)
        elif m.id.startswith(CANARY_PREFIX):  # our own canary from a run that was killed
            to_delete.setdefault(ns, set()).add(m.id)
