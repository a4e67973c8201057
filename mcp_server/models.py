"""The tools' structured output; these models' JSON schemas are the tools' output schemas.

Fields that show a core result are derived from core's own types (`Shown`):
their type and default come from the core dataclass, so the schema follows
core. An output name differs from core's only where clients already depend on
it, and each map says why; everything the server adds (snippets, file state,
run progress) is declared here.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, create_model

from core.service import Hit, SearchResult, StoreReport

if TYPE_CHECKING:
    from core.types import NamespaceStatus

SNIPPET_CHARS = 400
LIST_CAP = 100  # entries of skipped/failed lists kept in an ingest answer


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The chunk's text on one line, cut at limit characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclasses.dataclass(frozen=True)
class Shown:
    """The fields of a core result type an output model shows: output name -> (the core field,
    its description for clients)."""

    source: type
    fields: dict[str, tuple[str, str]]
    #: Output fields clients have always been told are present, though core gives them a default.
    required: frozenset[str] = frozenset()

    def definitions(self, *names: str) -> dict[str, Any]:
        """create_model field definitions of these output fields (default: all), with core's
        types and defaults."""
        hints = typing.get_type_hints(self.source)
        core = {f.name: f for f in dataclasses.fields(self.source)}
        out: dict[str, Any] = {}
        for name in names or self.fields:
            attr, description = self.fields[name]
            f, given = core[attr], {"description": description or None}
            if name not in self.required and f.default is not dataclasses.MISSING:
                given["default"] = f.default
            elif name not in self.required and f.default_factory is not dataclasses.MISSING:
                given["default_factory"] = f.default_factory
            out[name] = (hints[attr], Field(**given))
        return out

    def values(self, obj) -> dict[str, Any]:
        """The shown fields of one core result, under their output names."""
        return {name: getattr(obj, attr) for name, (attr, _) in self.fields.items()}


# -- search ----------------------------------------------------------------------------------
# A hit's `id` is what read_chunk takes (its argument is `id`); core calls it vector_id. The
# chunk's text is not shown whole: the server adds a one-line `snippet` of it.
HIT = Shown(Hit, {
    "id": ("vector_id", "Vector id: pass it to read_chunk, with namespace, to expand the hit."),
    "namespace": ("namespace", "The hit's namespace: pass it to read_chunk with the id."),
    "store": ("store", ""),
    "path": ("path", "Path relative to the store's repository root."),
    "start_line": ("start_line", ""),
    "end_line": ("end_line", ""),
    "score": ("score", ""),
    "headings": ("headings", "The Markdown headings above the chunk, if any."),
})

SearchHit = create_model(
    "SearchHit",
    **HIT.definitions(),
    snippet=(str, Field(description=f"The chunk's text on one line, at most {SNIPPET_CHARS} characters.")),
    file_state=(str, Field(description="fresh, changed or deleted since it was indexed; unknown for "
                                       "another repository's stores.")),
)

# Clients read `failed_stores` (namespace -> error); core calls it failed.
RESULT = Shown(SearchResult, {
    "query": ("query", ""),
    "namespaces": ("namespaces", "Namespaces searched."),
    "failed_stores": ("failed", "Namespace -> error, for namespaces that could not be searched; the "
                                "other namespaces' hits are still returned."),
    "notes": ("notes", "How the answer was made when it differs from usual, e.g. rerank unavailable, "
                       "merged by score."),
}, required=frozenset({"failed_stores"}))

SearchOutput = create_model(
    "SearchOutput",
    **RESULT.definitions("query", "namespaces"),
    hits=(list[SearchHit], ...),
    **RESULT.definitions("failed_stores"),
    skipped_stores=(dict[str, str], Field(default_factory=dict, description="Store slug -> why it was not "
                                                                            "searched (e.g. never ingested).")),
    latency_ms=(float, Field(0.0, description="Time the search took in the server (embedding included).")),
    **RESULT.definitions("notes"),
)


def search_hit(hit: Hit, file_state: str) -> SearchHit:
    """A core hit as clients see it: the score to 4 places, headings and text as one-line snippets."""
    shown = {**HIT.values(hit), "score": round(float(hit.score), 4), "headings": snippet(hit.headings or "", 200)}
    return SearchHit(**shown, snippet=snippet(hit.text), file_state=file_state)


def search_output(result: SearchResult, hits: list[SearchHit], skipped: dict[str, str],
                  latency_ms: float) -> SearchOutput:
    return SearchOutput(**RESULT.values(result), hits=hits, skipped_stores=skipped,
                        latency_ms=round(latency_ms, 1))


# -- ingest ----------------------------------------------------------------------------------
# Clients read embedded, upserted and deleted, as the text answer says them; core says
# chunks_embedded, vectors_upserted and vectors_deleted. core's failed and skipped are lists of
# (path, reason): the output shows their counts (failed_count, skipped_count, as
# StoreReport.counts() and the mirror's ingest_runs count them) and 'path: reason' lines.
COUNTS = Shown(StoreReport, {
    "added": ("added", ""),
    "changed": ("changed", ""),
    "removed": ("removed", ""),
    "unchanged": ("unchanged", ""),
    "embedded": ("chunks_embedded", "Chunks embedded."),
    "upserted": ("vectors_upserted", "Vectors written to the index."),
    "deleted": ("vectors_deleted", "Vectors deleted from the index."),
})
COUNT_KEYS = {**{name: attr for name, (attr, _) in COUNTS.fields.items()},
              "failed_count": "failed", "skipped_count": "skipped"}


def counts_out(counts: typing.Mapping[str, Any]) -> dict[str, int]:
    """Counts under core's names (StoreReport.counts(), IngestReport.totals(), an ingest_runs
    row) as IngestOutput's fields; a count core did not give is 0."""
    return {name: int(counts.get(key) or 0) for name, key in COUNT_KEYS.items()}


IngestOutput = create_model(
    "IngestOutput",
    state=(str, Field(description="idle, running, done, cancelled or failed.")),
    stores=(list[str], ...),
    **COUNTS.definitions(),
    failed_count=(int, 0),
    skipped_count=(int, 0),
    failed=(list[str], Field(default_factory=list,
                             description=f"'path: reason' for files that failed (first {LIST_CAP}).")),
    skipped=(list[str], Field(default_factory=list,
                              description=f"'path: reason' for files skipped (first {LIST_CAP}).")),
    to_embed=(int, Field(0, description="Chunks to embed in this run, as far as known (every store's total "
                                        "is known once its files are prepared); embedded counts up to it.")),
    progress=(str, Field("", description="The latest progress message while running.")),
    seconds=(float, 0.0),
    error=(str, ""),
    source=(str, Field("this server", description="'this server' (its current or last run) or 'mirror' (the "
                                                  "last runs recorded for these stores, by any process).")),
    finished_at=(str, Field("", description="When the recorded run finished (source 'mirror').")),
)


# -- read_chunk and namespaces: from the service's records ----------------------------------------
class ChunkOut(BaseModel):
    id: str
    chunk_index: int
    start_line: int
    end_line: int
    text: str


class ReadChunkOutput(BaseModel):
    namespace: str
    store: str
    path: str
    chunks: list[ChunkOut] = Field(description="The chunk and its neighbours, in file order.")


class NamespaceOut(BaseModel):
    namespace: str
    environment: str
    store: str = ""
    workspace: str = ""
    organization: str = ""
    index: str = ""
    embedding_model: str = ""
    dimension: int = 0
    chunk_max_tokens: int = 0
    chunk_overlap: int = 0
    documents: int = Field(-1, description="Documents in the mirror (-1: not in the mirror).")
    vectors: int = Field(-1, description="Vectors in the mirror (-1: not in the mirror).")
    index_vectors: int = Field(-1, description="What the index itself reports (-1: not there or not asked).")
    only_in: str = Field("", description="'index' or 'mirror' when the namespace exists on one side only.")
    last_ingest: str = ""
    last_ingest_status: str = ""
    created_at: str = ""
    updated_at: str = ""


class NamespacesOutput(BaseModel):
    total: int = Field(description="Namespaces found, before the limit.")
    namespaces: list[NamespaceOut]


def _int(value, default: int) -> int:
    return default if value is None else int(value)


def namespace_out(row: NamespaceStatus) -> NamespaceOut:
    """A row of Lightfast.namespaces() (a mirror record with counts, or an index-only namespace)."""
    r = row.record  # None: found only in an index, its record fields stay empty
    record = {} if r is None else dict(
        store=r.store_slug, workspace=r.workspace_id, organization=r.organization_id,
        embedding_model=r.embedding_model, dimension=r.embedding_dim, chunk_max_tokens=r.chunk_max_tokens,
        chunk_overlap=r.chunk_overlap, created_at=r.created_at, updated_at=r.updated_at,
    )
    return NamespaceOut(
        namespace=row.namespace_name, environment=row.environment, index=row.index_name,
        documents=_int(row.documents, -1), vectors=_int(row.vectors, -1),
        index_vectors=_int(row.index_vectors, -1), only_in=row.only_in or "",
        last_ingest=row.last_ingest or "", last_ingest_status=row.last_ingest_status or "", **record,
    )
