"""`ingest --plan`: what an ingest would embed, before anything is embedded.

Counts files, chunks and tokens per store with the real chunker and the
model's tokenizer (no weights are loaded), lists the largest directories and
what is skipped and why (the same file check ingest makes), what would be
removed and whether core/guards.py would refuse the run, and prices the
embedding for the chosen profile.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from core.chunking import chunk_text
from core.guards import check_root, forced, removal_refusal, would_remove
from core.scan import Skipped, StoreMatcher, Unusable, read_found

# USD per million input tokens (Cohere's list prices, collected 2026-11-24;
# see shared research). The local model costs nothing.
EMBED_PRICE_PER_MILLION = {"embed-english-v3.0": 0.10, "embed-multilingual-v3.0": 0.10, "embed-v4.0": 0.12}


@dataclass
class StorePlan:
    store: str
    files: int = 0
    new_or_changed: int = 0
    chunks: int = 0
    tokens: int = 0
    largest_dirs: list[tuple[str, int]] = field(default_factory=list)  # (dir, tokens)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    estimated_cost_usd: float = 0.0
    removed: int = 0  # documents whose files are no longer found
    refused: str | None = None  # why `ingest` would refuse to run (core/guards.py), None if it would not


@dataclass
class IngestPlan:
    environment: str
    model: str
    price_per_million_tokens: float
    stores: list[StorePlan]

    def to_dict(self) -> dict:
        return asdict(self)


def plan_ingest(service, stores=None, full: bool = False, force: bool | None = None) -> IngestPlan:
    """force as `ingest` takes it: None lets LIGHTFAST_FORCE_REMOVE decide."""
    from core.ingest import content_hash

    check_root(service.config)  # a missing root is the same ConfigError ingest gives
    profile = service.profile
    price = 0.0 if profile.embedding_provider == "local" else EMBED_PRICE_PER_MILLION.get(
        profile.embedding_model, 0.10)
    embedder = service.embedder
    found = service.scan()
    plans = []
    slugs = list(stores) if stores else [s.slug for s in service.config.stores]
    for slug in slugs:
        store = service.config.store(slug)
        record = service.mirror.get_namespace(
            service.environment, service.config.organization, service.config.workspace, slug)
        known = service.mirror.documents(record.id) if record else {}
        matcher = StoreMatcher(store.include, store.exclude)
        plan = StorePlan(slug)
        plan.removed = len(would_remove(store, known, found))
        if not forced(force):
            plan.refused = removal_refusal(service.config, service.mirror, service.environment, store, found)
        by_dir: Counter[str] = Counter()
        max_tokens = min(store.chunking.max_tokens, embedder.max_tokens)
        for item in found:
            if not matcher.matches(item.path):
                continue
            if isinstance(item, Skipped):
                plan.skipped.append((item.path, item.reason))
                continue
            read = read_found(item)  # the check ingest makes, so the plan shows what it will do
            if isinstance(read, Unusable):
                plan.skipped.append((item.path, read.reason))
                continue
            data, text = read
            plan.files += 1
            doc = known.get(item.path)
            if not full and doc is not None and doc["content_hash"] == content_hash(data):
                continue
            plan.new_or_changed += 1
            chunks = chunk_text(text, item.path, max_tokens, store.chunking.overlap,
                                embedder.tokenizer_counts, getattr(embedder, "token_spans", None))
            tokens = sum(c.tokens for c in chunks)
            plan.chunks += len(chunks)
            plan.tokens += tokens
            by_dir[item.path.rsplit("/", 1)[0] if "/" in item.path else "."] += tokens
        plan.largest_dirs = by_dir.most_common(5)
        plan.estimated_cost_usd = round(plan.tokens / 1e6 * price, 6)
        plans.append(plan)
    return IngestPlan(service.environment, profile.embedding_model, price, plans)
