"""The design's cost comparison, with today's Pinecone plan facts and sound arithmetic.

Two architectures for N stores: one index per store, or one shared index with
a namespace per store. Storage, reads and writes cost the same in both (each
query scans one store's data either way); what differs is how many indexes,
projects and organizations the plan limits force, and so the minimum spend.

Where the design is out of date, `corrections()` says so:
- Pinecone's minimum spend is charged per organization, not per project;
- a minimum is a floor on each organization's bill, not a charge added to usage
  (the design adds $7,500 of minimums to $9,900 of storage);
- the Standard plan allows 100,000 namespaces per index, not 25,000;
- 150 projects need 8 organizations (20 projects each on Standard).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Prices:
    """Pinecone Standard plan, AWS us-east-1. Source: Pinecone pricing and limits docs, collected 2026-11-24."""

    as_of: str = "2026-11-24"
    source: str = "Pinecone pricing & quotas pages (Standard plan, aws us-east-1), see shared/research/platform-facts.md"
    storage_per_gb_month: float = 0.33
    per_million_read_units: float = 16.0
    per_million_write_units: float = 4.0
    minimum_per_organization: float = 50.0
    indexes_per_project: int = 20
    projects_per_organization: int = 20
    namespaces_per_index: int = 100_000


@dataclass(frozen=True)
class Workload:
    stores: int
    vectors_per_store: int = 100_000
    dimension: int = 1024
    metadata_bytes: int = 1_500
    queries_per_store_month: int = 10_000
    gb_per_store: float | None = None  # overrides the size computed from vectors

    def store_gb(self) -> float:
        if self.gb_per_store is not None:
            return self.gb_per_store
        return self.vectors_per_store * (4 * self.dimension + self.metadata_bytes + 40) / 1e9


@dataclass(frozen=True)
class Architecture:
    name: str
    indexes: int
    projects: int
    organizations: int
    minimum: float  # the sum of the organizations' floors
    usage: float  # storage + reads
    monthly: float  # what is billed: each organization pays max(floor, its usage)


def _usage(w: Workload, p: Prices) -> float:
    gb = w.store_gb()
    storage = w.stores * gb * p.storage_per_gb_month
    read_units = w.stores * w.queries_per_store_month * max(0.25, gb)  # 1 RU per GB scanned, min 0.25
    return storage + read_units / 1e6 * p.per_million_read_units


def _bill(indexes: int, w: Workload, p: Prices, name: str) -> Architecture:
    projects = max(1, math.ceil(indexes / p.indexes_per_project))
    orgs = max(1, math.ceil(projects / p.projects_per_organization))
    usage = _usage(w, p)
    per_org = usage / orgs  # usage spread evenly over the organizations
    monthly = orgs * max(p.minimum_per_organization, per_org)
    return Architecture(name, indexes, projects, orgs, orgs * p.minimum_per_organization, usage, monthly)


def compare(w: Workload, p: Prices = Prices()) -> dict:
    per_store = _bill(w.stores, w, p, "one index per store")
    shared = _bill(max(1, math.ceil(w.stores / p.namespaces_per_index)), w, p, "shared index + namespaces")
    design_claim = {  # the design's own arithmetic: $50 per project, added to storage
        "projects": math.ceil(w.stores / p.indexes_per_project),
        "minimum": math.ceil(w.stores / p.indexes_per_project) * 50.0,
    }
    return {
        "workload": asdict(w), "store_gb": w.store_gb(),
        "per_store": asdict(per_store), "shared": asdict(shared),
        "savings": per_store.monthly - shared.monthly,
        "design_minimum_claim": design_claim,
    }


DESIGN_SCENARIOS = (1_000, 3_000, 10_000, 25_000, 50_000)


def design_scenarios(p: Prices = Prices(), gb_per_store: float = 10.0, queries: int = 0) -> list[dict]:
    """The design's table: its own 10 GB per store, and (like it) reads left out by default."""
    return [compare(Workload(stores=n, gb_per_store=gb_per_store, queries_per_store_month=queries), p)
            for n in DESIGN_SCENARIOS]


def corrections() -> list[str]:
    return [
        "Minimum spend is charged per organization, not per project: the design's 150 projects x $50 is "
        "really 8 organizations x $50 (20 projects per organization on Standard).",
        "A minimum is a floor on a bill, not an addition to usage: once usage passes it, the minimum costs "
        "nothing extra (the design adds $7,500 of minimums to $9,900 of storage).",
        "Standard now allows 100,000 namespaces per index (the design's 25,000 dates from Dec 2024), so "
        "50,000 stores still fit one shared index.",
        "Storage and reads cost the same in both layouts: each query scans one store's data either way. "
        "The saving is in indexes, projects and organizations, and in operating one index instead of thousands.",
    ]
