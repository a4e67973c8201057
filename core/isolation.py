"""`verify isolation`: the design's cross-namespace contamination alert, as a check.

A canary record goes into each namespace (or a sample), marked with the
namespace it was written to; each namespace is then queried with every
canary's vector and for every canary-marked record; a hit marked with another
namespace is contamination. The canaries are removed whatever happens.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field

import numpy as np

from core.vectors.base import VectorRecord

MARKER = "lightfast_canary"


@dataclass
class IsolationReport:
    namespaces: list[str]
    queries: int = 0
    contaminations: list[str] = field(default_factory=list)  # "queried ns: hit id marked for other ns"

    @property
    def ok(self) -> bool:
        return not self.contaminations


def verify_isolation(service, sample: int | None = None, seed: int | None = None) -> IsolationReport:
    names = [r["namespace_name"] for r in service.namespace_records("organization")]
    rng = random.Random(seed)
    if sample is not None and sample < len(names):
        names = sorted(rng.sample(names, sample))
    index = service.index
    vectors = np.random.default_rng(seed).standard_normal((len(names), index.dimension)).astype(np.float32)
    run = uuid.uuid4().hex[:12]
    canaries = {ns: f"lightfast-canary-{run}-{i}" for i, ns in enumerate(names)}
    report = IsolationReport(names)
    written = []
    try:
        for i, ns in enumerate(names):
            index.upsert(ns, [VectorRecord(canaries[ns], vectors[i], {MARKER: ns, "text": "isolation canary"})])
            written.append(ns)
        probes = list(range(len(names))) if len(names) <= 50 else None
        for i, ns in enumerate(names):
            picks = probes if probes is not None else sorted({i, *rng.sample(range(len(names)), 5)})
            hits = [m for j in picks for m in index.query(ns, vectors[j], 10)]
            hits += index.query(ns, vectors[i], 1000, filter={MARKER: {"$exists": True}})
            report.queries += len(picks) + 1
            for m in hits:
                owner = m.metadata.get(MARKER)
                if owner is not None and owner != ns:
                    report.contaminations.append(f"{ns}: record '{m.id}' belongs to {owner}")
        report.contaminations = sorted(set(report.contaminations))
    finally:
        for ns in written:
            index.delete(ns, [canaries[ns]])
    return report
