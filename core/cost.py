"""The design's cost comparison, with today's Pinecone plan facts and sound arithmetic.

Two layouts for N stores: one index per store, or one shared index with a
namespace per store. Storage, reads and writes cost the same in both (a query
scans one store's data either way: its own index, or its own namespace); what
differs is how many indexes, projects and organizations the plan limits force,
and so the minimum spend, which is a floor under each organization's bill.

`corrections()` says where the design is out of date or its arithmetic is off.
Sizes are decimal: 1 GB = 10^9 bytes, 1 KB = 1,000 bytes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

PRICES_AS_OF = "2026-11-24"
PRICES_SOURCE = "Pinecone pricing and quota pages, Standard plan, AWS us-east-1 (shared/research/platform-facts.md)"


@dataclass(frozen=True)
class Prices:
    """List prices and plan limits. Defaults: Pinecone Standard, collected 2026-11-24."""

    as_of: str = PRICES_AS_OF
    """When the defaults were collected; say so if you override them."""
    source: str = PRICES_SOURCE
    """Where the defaults come from."""
    storage_per_gb_month: float = 0.33
    """$ per GB stored per month."""
    per_million_read_units: float = 16.0
    """$ per million read units; a query costs 1 RU per GB of the namespace it scans, at least 0.25."""
    per_million_write_units: float = 4.0
    """$ per million write units; an upsert costs 1 WU per KB, at least 5 per request."""
    minimum_per_organization: float = 50.0
    """Minimum spend per month, charged per ORGANIZATION (a floor under its bill, not an extra)."""
    indexes_per_project: int = 20
    """Serverless indexes a Standard project may hold."""
    projects_per_organization: int = 20
    """Projects a Standard organization may hold."""
    namespaces_per_index: int = 100_000
    """Namespaces per index on Standard (the design's 25,000 dates from Dec 2024)."""


@dataclass(frozen=True)
class Workload:
    """What is priced: N stores alike."""

    stores: int
    """Stores, each its own index (per-store layout) or its own namespace (shared layout)."""
    vectors_per_store: int = 100_000
    """Records in each store."""
    dimension: int = 1024
    """Embedding dimension (embed-english-v3.0: 1024)."""
    metadata_bytes: int = 1_500
    """Metadata per record: chunk text and fields."""
    id_bytes: int = 40
    """Record id length."""
    queries_per_store_month: int = 10_000
    """Queries against each store per month."""
    upserts_per_store_month: int = 0
    """Records written (re-embedded) in each store per month."""
    gb_per_store: float | None = None
    """Size of a store in GB; overrides the size computed from vectors (the design assumes 10 GB)."""

    def record_bytes(self) -> int:
        return self.id_bytes + self.metadata_bytes + 4 * self.dimension

    def store_gb(self) -> float:
        if self.gb_per_store is not None:
            return self.gb_per_store
        return self.vectors_per_store * self.record_bytes() / 1e9


@dataclass(frozen=True)
class Usage:
    """Usage is the same in both layouts: what each store stores, reads and writes."""

    storage: float
    reads: float
    writes: float
    read_units: float
    write_units: float

    @property
    def total(self) -> float:
        return self.storage + self.reads + self.writes


@dataclass(frozen=True)
class Layout:
    name: str
    indexes: int
    projects: int
    organizations: int
    floors: float  # the organizations' minimums added up
    monthly: float  # the bill: each organization pays max(its minimum, its usage)


def usage(w: Workload, p: Prices = Prices()) -> Usage:
    gb = w.store_gb()
    storage = w.stores * gb * p.storage_per_gb_month
    read_units = w.stores * w.queries_per_store_month * max(0.25, gb)
    # Upserts go in requests of at most 1,000 records and 2 MB; 1 WU per KB, at least 5 per request.
    per_request = max(1, min(1_000, 2_000_000 // max(1, w.record_bytes())))
    requests = math.ceil(w.upserts_per_store_month / per_request)
    write_units = w.stores * max(w.upserts_per_store_month * w.record_bytes() / 1_000, 5 * requests)
    return Usage(
        storage=storage,
        reads=read_units / 1e6 * p.per_million_read_units,
        writes=write_units / 1e6 * p.per_million_write_units,
        read_units=read_units,
        write_units=write_units,
    )


def _layout(name: str, indexes: int, u: Usage, p: Prices) -> Layout:
    projects = max(1, math.ceil(indexes / p.indexes_per_project))
    orgs = max(1, math.ceil(projects / p.projects_per_organization))
    # Stores are spread evenly, so each organization carries an equal share of the usage.
    monthly = orgs * max(p.minimum_per_organization, u.total / orgs)
    return Layout(name, indexes, projects, orgs, orgs * p.minimum_per_organization, monthly)


def design_claim(stores: int) -> dict:
    """The design's own figures for the per-store layout: $50 per project of 20 indexes, added to
    10 GB x $0.33 of storage per store, against one project (two past 25,000 namespaces)."""
    projects = math.ceil(stores / 20)
    shared_projects = math.ceil(stores / 25_000)
    storage = stores * 10 * 0.33
    return {"projects": projects, "minimum": projects * 50.0, "total_minimum": projects * 50.0 + storage,
            "shared_projects": shared_projects, "shared_minimum": shared_projects * 50.0}


def compare(w: Workload, p: Prices = Prices()) -> dict:
    """Both layouts priced for one workload."""
    u = usage(w, p)
    per_store = _layout("one index per store", w.stores, u, p)
    shared = _layout("shared index + namespaces", max(1, math.ceil(w.stores / p.namespaces_per_index)), u, p)
    return {
        "workload": asdict(w), "store_gb": w.store_gb(),
        "usage": {**asdict(u), "total": u.total},
        "per_store": asdict(per_store), "shared": asdict(shared),
        "savings": per_store.monthly - shared.monthly,
        "design_claim": design_claim(w.stores),
    }


DESIGN_SCENARIOS = (1_000, 3_000, 10_000, 25_000, 50_000)


def design_scenarios(p: Prices = Prices(), gb_per_store: float = 10.0) -> list[dict]:
    """The design's table: its 10 GB per store and, as it does, reads and writes left out."""
    return [compare(Workload(stores=n, gb_per_store=gb_per_store, queries_per_store_month=0), p)
            for n in DESIGN_SCENARIOS]


def corrections(p: Prices = Prices()) -> list[str]:
    """Where the design (last updated 2025-01-25) is out of date or its arithmetic is off."""
    per_org = p.indexes_per_project * p.projects_per_organization
    orgs_3000 = math.ceil(math.ceil(3000 / p.indexes_per_project) / p.projects_per_organization)
    return [
        f"Minimum spend is charged per organization, not per project: the design's 150 projects "
        f"x $50 = $7,500 is {orgs_3000} organizations x ${p.minimum_per_organization:,.0f} = "
        f"${orgs_3000 * p.minimum_per_organization:,.0f} of floors.",
        f"150 projects do not fit one organization: Standard allows {p.projects_per_organization} projects "
        f"each ({per_org:,} indexes), so the per-store layout at 3,000 stores needs {orgs_3000} organizations "
        "to run and bill separately.",
        "A minimum is a floor under a bill, not an addition to usage: the design adds $7,500 of minimums to "
        "$9,900 of storage ($17,400); at 10 GB per store usage passes every floor, so both layouts bill "
        "$9,900 at 3,000 stores.",
        f"Standard now allows {p.namespaces_per_index:,} namespaces per index (the design's 25,000 dates from "
        f"Dec 2024): 50,000 stores fit one shared index, not two.",
        "Storage, reads and writes cost the same in both layouts (a query scans one store's data either way). "
        "The saving is in minimums for small stores, and in running one index instead of thousands.",
    ]
