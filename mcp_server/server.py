"""The MCP server: search, read_chunk, ingest, ingest_status, list_namespaces, namespace_stats.

A thin face over core.service.Lightfast. Every blocking call (model load,
embedding, disk, index) runs in a worker thread, never on the event loop.
Tools return structured content (with an output schema) and a compact text
form capped in characters. Input schemas use plain types with defaults, never
anyOf/oneOf/allOf, which some clients reject. A user error comes back as a
tool error (isError) that says what to do next; the server keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Annotated, Callable, Literal

import anyio
import anyio.from_thread
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from core.errors import LightfastError
from mcp_server.format import cap, freshness, snippet

log = logging.getLogger("lightfast.mcp")

MAX_TOP_K = 50
DEFAULT_MAX_CHARS = 8000  # ~2k tokens: far below Claude Code's ~25k-token tool cap
MAX_CHARS = 60000


# -- output models (their JSON schemas are the tools' output schemas) ---------------
class SearchHit(BaseModel):
    id: str = Field(description="Vector id; pass to read_chunk to expand the hit.")
    namespace: str
    store: str
    path: str
    start_line: int
    end_line: int
    score: float
    snippet: str
    file_state: str = Field(description="fresh, changed or deleted since it was indexed.")


class SearchOutput(BaseModel):
    query: str
    namespaces: list[str]
    hits: list[SearchHit]
    failed_stores: dict[str, str] = Field(description="Namespace -> error, for namespaces that failed.")


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
    chunks: list[ChunkOut]


class IngestOutput(BaseModel):
    state: str = Field(description="idle, running, done or failed.")
    stores: list[str]
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    embedded: int = 0
    upserted: int = 0
    deleted: int = 0
    failed: list[str] = Field(default_factory=list, description="'path: reason' for files that failed.")
    skipped: list[str] = Field(default_factory=list, description="'path: reason' for skipped files.")
    progress: str = ""
    seconds: float = 0.0
    error: str = ""


class NamespaceOut(BaseModel):
    namespace: str
    environment: str
    store: str
    workspace: str
    organization: str
    index: str
    embedding_model: str
    dimension: int
    chunk_max_tokens: int
    chunk_overlap: int
    documents: int
    vectors: int
    index_vectors: int = Field(-1, description="What the index itself reports (-1: not asked).")
    last_ingest: str = ""
    created_at: str = ""
    updated_at: str = ""


class NamespacesOutput(BaseModel):
    namespaces: list[NamespaceOut]


def _result(text: str, data: BaseModel) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content=data.model_dump(mode="json"))


def _namespace_out(row: dict) -> NamespaceOut:
    return NamespaceOut(
        namespace=row["namespace_name"], environment=row["environment"], store=row.get("store_slug", ""),
        workspace=row.get("workspace_id", ""), organization=row.get("organization_id", ""),
        index=row.get("index_name", ""), embedding_model=row.get("embedding_model", ""),
        dimension=row.get("embedding_dim") or 0, chunk_max_tokens=row.get("chunk_max_tokens") or 0,
        chunk_overlap=row.get("chunk_overlap") or 0, documents=row.get("documents") or 0,
        vectors=row.get("vectors") or 0,
        index_vectors=-1 if row.get("index_vectors") is None else row["index_vectors"],
        last_ingest=row.get("last_ingest") or "", created_at=row.get("created_at") or "",
        updated_at=row.get("updated_at") or "",
    )


class IngestTracker:
    """The state of this server's current or last ingest, for ingest_status."""

    def __init__(self):
        self.lock = threading.Lock()
        self.state = IngestOutput(state="idle", stores=[])

    def update(self, **fields) -> None:
        with self.lock:
            self.state = self.state.model_copy(update=fields)

    def snapshot(self) -> IngestOutput:
        with self.lock:
            return self.state.model_copy()


def _ingest_text(out: IngestOutput) -> str:
    head = (f"ingest {out.state}: {out.added} added, {out.changed} changed, {out.removed} removed, "
            f"{out.unchanged} unchanged; {out.embedded} chunks embedded, {out.failed and len(out.failed) or 0} failed, "
            f"{len(out.skipped)} skipped ({out.seconds:.1f} s)")
    lines = [head]
    if out.progress and out.state == "running":
        lines.append(f"progress: {out.progress}")
    if out.error:
        lines.append(f"error: {out.error}")
    lines += [f"failed {f}" for f in out.failed[:20]]
    lines += [f"skipped {s}" for s in out.skipped[:20]]
    return cap(lines, 6000, "lines")


def build_server(open_service: Callable[[], object], *, read_only: bool = False) -> MCPServer:
    """open_service builds the core service (once, lazily, in a worker thread)."""
    state: dict = {}
    service_lock = threading.Lock()
    tracker = IngestTracker()

    def service():
        with service_lock:
            if "service" not in state:
                state["service"] = open_service()
            return state["service"]

    async def call(fn, *args, **kw):
        """Run blocking core work in a thread; LightfastError becomes a tool error."""
        try:
            return await anyio.to_thread.run_sync(lambda: fn(*args, **kw))
        except LightfastError as exc:
            raise ToolError(str(exc)) from None

    svc_for_instructions = None
    server = MCPServer(
        name="lightfast",
        instructions=(
            "Search this repository's documents and code, kept in one shared vector index with one "
            "namespace per store. Use `search` first; expand a hit with `read_chunk`. Run `ingest` after "
            "files change (or rely on the watcher)."
        ),
    )

    @server.tool(
        annotations=ToolAnnotations(title="Search the repo", read_only_hint=True, idempotent_hint=True),
        description=(
            "Semantic search over this repository's stores. scope 'store' searches the named stores "
            "(default: all stores of this lightfast.yml), 'workspace' every store of the workspace, "
            "'organization' every store of the organization. Returns hits with path, line range, score, "
            "a snippet, and whether the file changed since it was indexed. Compact by default: raise "
            "max_chars for more text, or call read_chunk with a hit's id."
        ),
    )
    async def search(
        query: Annotated[str, Field(description="What to look for, in natural language.", min_length=1, max_length=4000)],
        stores: Annotated[list[str], Field(description="Store slugs (scope 'store' only); empty means all.")] = [],
        scope: Annotated[Literal["store", "workspace", "organization"], Field(description="How wide to search.")] = "store",
        top_k: Annotated[int, Field(description="Hits to return.", ge=1, le=MAX_TOP_K)] = 8,
        path_glob: Annotated[str, Field(description="Only paths matching this glob, e.g. 'docs/**'; empty for all.")] = "",
        max_chars: Annotated[int, Field(description="Cap on the text answer's length.", ge=500, le=MAX_CHARS)] = DEFAULT_MAX_CHARS,
    ) -> Annotated[CallToolResult, SearchOutput]:
        if not query.strip():
            raise ToolError("query is empty: give some words to search for")
        svc = await call(service)
        result = await call(svc.search, query, stores=stores or None, scope=scope, top_k=top_k,
                            path_glob=path_glob or None)
        cache: dict[str, str] = {}
        hits = [
            SearchHit(id=h.vector_id, namespace=h.namespace, store=h.store, path=h.path,
                      start_line=h.start_line, end_line=h.end_line, score=round(h.score, 4),
                      snippet=snippet(h.text), file_state=freshness(svc.root, h.path, h.content_hash, cache))
            for h in result.hits
        ]
        out = SearchOutput(query=result.query, namespaces=result.namespaces, hits=hits, failed_stores=result.failed)
        lines = [f"{len(hits)} hits in {len(result.namespaces)} namespace(s) for {result.query!r}"]
        for i, h in enumerate(hits, 1):
            note = "" if h.file_state == "fresh" else f" [{h.file_state} since indexed]"
            lines.append(f"{i}. {h.path}:{h.start_line}-{h.end_line} ({h.store}, {h.score:.3f}){note} id={h.id}")
            lines.append(f"   {h.snippet}")
        lines += [f"failed: {ns}: {err}" for ns, err in result.failed.items()]
        return _result(cap(lines, max_chars, "lines"), out)

    @server.tool(
        annotations=ToolAnnotations(title="Read a chunk", read_only_hint=True, idempotent_hint=True),
        description="Expand a search hit: the chunk with the given id and up to `radius` neighbouring chunks of the same file.",
    )
    async def read_chunk(
        id: Annotated[str, Field(description="A hit's id from search.", min_length=1, max_length=512)],
        radius: Annotated[int, Field(description="Neighbouring chunks on each side.", ge=0, le=5)] = 1,
        max_chars: Annotated[int, Field(description="Cap on the text answer's length.", ge=500, le=MAX_CHARS)] = 12000,
    ) -> Annotated[CallToolResult, ReadChunkOutput]:
        svc = await call(service)
        found = await call(svc.read_chunk, id, radius=radius)
        out = ReadChunkOutput(namespace=found["namespace"], store=found["store"], path=found["path"],
                              chunks=[ChunkOut(id=c["vector_id"], chunk_index=c["chunk_index"],
                                               start_line=c["start_line"], end_line=c["end_line"], text=c["text"])
                                      for c in found["chunks"]])
        lines = [f"{out.path} ({out.store})"]
        for c in out.chunks:
            mark = " <- hit" if c.id == id else ""
            lines.append(f"--- lines {c.start_line}-{c.end_line}{mark}")
            lines.extend(c.text.splitlines())
        return _result(cap(lines, max_chars, "lines"), out)

    @server.tool(
        annotations=ToolAnnotations(title="List namespaces", read_only_hint=True, idempotent_hint=True),
        description="This organization's namespaces: record fields, document and vector counts (mirror and index), last ingest.",
    )
    async def list_namespaces() -> Annotated[CallToolResult, NamespacesOutput]:
        svc = await call(service)
        rows = [r for r in await call(svc.namespaces) if r.get("store_slug")]
        out = NamespacesOutput(namespaces=[_namespace_out(r) for r in rows])
        lines = [f"{n.namespace}: {n.documents} documents, {n.vectors} vectors (index {n.index_vectors}), "
                 f"model {n.embedding_model}, last ingest {n.last_ingest or 'never'}" for n in out.namespaces]
        return _result(cap(lines or ["no namespaces yet: run the ingest tool"], 8000, "namespaces"), out)

    @server.tool(
        annotations=ToolAnnotations(title="Namespace stats", read_only_hint=True, idempotent_hint=True),
        description="One store's namespace record with its document and vector counts and last ingest.",
    )
    async def namespace_stats(
        store: Annotated[str, Field(description="A store slug from lightfast.yml.", min_length=1, max_length=200)],
    ) -> Annotated[CallToolResult, NamespaceOut]:
        svc = await call(service)
        await call(svc.config.store, store)  # unknown slug -> tool error listing the known ones
        rows = [r for r in await call(svc.namespaces) if r.get("store_slug") == store
                and r.get("workspace_id") == svc.config.workspace]
        if not rows:
            raise ToolError(f"store '{store}' has not been ingested yet: call the ingest tool first")
        out = _namespace_out(rows[0])
        text = (f"{out.namespace} in index {out.index} ({out.environment}): {out.documents} documents, "
                f"{out.vectors} vectors (index reports {out.index_vectors}); {out.embedding_model} "
                f"{out.dimension}-d; chunks {out.chunk_max_tokens}/{out.chunk_overlap}; last ingest "
                f"{out.last_ingest or 'never'}")
        return _result(text, out)

    @server.resource("lightfast://namespaces", name="namespaces", mime_type="application/json",
                     description="This organization's namespace records with document and vector counts (mirror).")
    async def namespaces_resource() -> str:
        svc = await call(service)
        rows = await call(svc.namespaces, with_backend=False)
        return NamespacesOutput(namespaces=[_namespace_out(r) for r in rows if r.get("store_slug")]).model_dump_json()

    @server.resource("lightfast://namespaces/{store}", name="namespace", mime_type="application/json",
                     description="One store's namespace record with its counts and last ingest.")
    async def namespace_resource(store: str) -> str:
        svc = await call(service)
        rows = [r for r in await call(svc.namespaces, with_backend=False)
                if r.get("store_slug") == store and r.get("workspace_id") == svc.config.workspace]
        if not rows:
            raise ValueError(f"store '{store}' has no namespace yet; ingest it first")
        return _namespace_out(rows[0]).model_dump_json()

    if read_only:
        return server

    @server.tool(
        annotations=ToolAnnotations(title="Ingest the repo", read_only_hint=False, destructive_hint=True,
                                    idempotent_hint=True),
        description=(
            "Incremental ingest of this repository: new and changed files are embedded, vectors of "
            "deleted files removed. Optionally only some paths (relative to the repo root) or one store. "
            "Sends progress notifications when the request has a progress token; ingest_status follows "
            "a long run."
        ),
    )
    async def ingest(
        ctx: Context,
        paths: Annotated[list[str], Field(description="Repo-relative paths to (re)ingest; empty for all.")] = [],
        store: Annotated[str, Field(description="Only this store; empty for all.")] = "",
        full: Annotated[bool, Field(description="Re-embed everything, not only changes.")] = False,
    ) -> Annotated[CallToolResult, IngestOutput]:
        svc = await call(service)
        root = svc.root.resolve()
        safe = []
        for p in paths:
            full_path = (root / p).resolve() if not Path(p).is_absolute() else Path(p).resolve()
            if not full_path.is_relative_to(root):
                raise ToolError(f"path {p!r} is outside the repository root {root}; give repo-relative paths")
            safe.append(full_path)
        if store:
            await call(svc.config.store, store)
        if tracker.snapshot().state == "running":
            raise ToolError("an ingest is already running in this server; follow it with ingest_status")
        stores = [store] if store else [s.slug for s in svc.config.stores]
        tracker.update(state="running", stores=stores, progress="starting", error="")
        started = time.perf_counter()
        step = {"n": 0}

        def on_progress(p) -> None:
            step["n"] += 1
            message = f"{p.store}: {p.stage} {p.done}/{p.total} {p.message}"[:200]
            tracker.update(progress=message)
            try:
                anyio.from_thread.run(ctx.report_progress, step["n"], None, message)
            except Exception:  # a client without a progress token, or gone: keep ingesting
                pass

        try:
            report = await call(svc.ingest, stores, full=full, paths=safe or None, progress=on_progress,
                                lock_wait=60)
        except ToolError as exc:
            tracker.update(state="failed", error=str(exc), seconds=time.perf_counter() - started)
            raise
        totals = report.totals()
        tracker.update(
            state="done", added=totals["added"], changed=totals["changed"], removed=totals["removed"],
            unchanged=totals["unchanged"], embedded=totals["chunks_embedded"], upserted=totals["vectors_upserted"],
            deleted=totals["vectors_deleted"], seconds=round(time.perf_counter() - started, 3), progress="",
            failed=[f"{p}: {why}" for r in report.stores for p, why in r.failed],
            skipped=[f"{p}: {why}" for r in report.stores for p, why in r.skipped],
        )
        out = tracker.snapshot()
        return _result(_ingest_text(out), out)

    @server.tool(
        annotations=ToolAnnotations(title="Ingest status", read_only_hint=True, idempotent_hint=True),
        description="The state of this server's current or last ingest: running/done/failed, progress and counts.",
    )
    async def ingest_status() -> Annotated[CallToolResult, IngestOutput]:
        out = tracker.snapshot()
        return _result(_ingest_text(out), out)

    return server


def warm_in_background(open_service: Callable[[], object]) -> threading.Thread:
    """Load the model off the event loop so the first search is fast; log when ready."""

    def run():
        started = time.perf_counter()
        try:
            svc = open_service()
            embedder = svc.embedder
            if hasattr(embedder, "warm"):
                embedder.warm()
            log.info("ready: %s in %.1f s", getattr(embedder, "model_name", "embedder"), time.perf_counter() - started)
        except Exception as exc:  # reported to the client on its first call instead
            log.warning("warm-up failed: %s", exc)

    thread = threading.Thread(target=run, name="lightfast-warmup", daemon=True)
    thread.start()
    return thread
