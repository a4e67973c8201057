"""The MCP server: search, read_chunk, ingest, ingest_status, list_namespaces, namespace_stats.

A thin face over core.service.Lightfast. Every blocking call (model load,
embedding, disk, index) runs in a worker thread, never on the event loop.
Tools return structured content (with an output schema) and a compact text
form capped in characters. Input schemas use plain types with defaults ("" and
[] mean "not given"), never anyOf/oneOf/allOf, which some clients reject, and
arguments are taken strictly: a wrong type or an unknown name is an error that
lists the accepted arguments (mcp_server/arguments.py). A user's error comes
back as a tool error (isError) that says what to do next; the server keeps
serving. Ingest progress is one notification per embedder batch
(mcp_server/progress.py).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, Literal

import anyio
import anyio.from_thread
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError, UnexpectedToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, ValidationError

from core.errors import LightfastError, ScopeError
from core.tokens import current_grant, granted
from mcp_server.arguments import argument_error, strict_model
from mcp_server.auth import request_grant
from mcp_server.format import (
    LIST_CAP, ChunkOut, IngestOutput, NamespaceOut, NamespacesOutput, ReadChunkOutput, SearchHit,
    SearchOutput, cap, file_state, ingest_text, last_recorded, namespace_line, namespace_out, search_text,
    snippet,
)
from mcp_server.progress import ProgressRelay

if TYPE_CHECKING:
    from core.types import NamespaceStatus

log = logging.getLogger("lightfast.mcp")

MAX_TOP_K = 50
MAX_QUERY_CHARS = 4000  # core.search.MAX_QUERY_CHARS
DEFAULT_MAX_CHARS = 8000  # ~2k tokens: far below Claude Code's ~25k-token cap on a tool result
MAX_CHARS = 60000
INGEST_LOCK_WAIT_S = 60


class LightfastMCP(MCPServer):
    """MCPServer whose tools take their arguments strictly (no coercion, no unknown names) and
    whose argument errors are one plain paragraph that lists the accepted arguments.

    Over HTTP with tokens, every tool call and resource read runs under the grant of the
    request's bearer token (mcp_server/auth.py); a read-only token is not offered, and may
    not call, a tool that is not annotated read-only."""

    def add_tool(self, fn, name: str | None = None, **kw) -> None:
        super().add_tool(fn, name=name, **kw)
        # MCPServer builds the argument model on pydantic's lax defaults (python-sdk issue 3067);
        # the registered Tool is reachable only through the tool manager.
        tool = self._tool_manager.get_tool(name or fn.__name__)
        tool.fn_metadata.arg_model = strict_model(tool.fn_metadata.arg_model)
        tool.parameters = tool.fn_metadata.arg_model.model_json_schema(by_alias=True)

    def _writes(self, name: str) -> bool:
        tool = self._tool_manager.get_tool(name)
        return tool is not None and not (tool.annotations and tool.annotations.read_only_hint)

    async def list_tools(self):
        grant = request_grant()
        tools = await super().list_tools()
        return [t for t in tools if not (grant and grant.read_only and self._writes(t.name))]

    async def read_resource(self, uri, context: Context | None = None):
        with granted(request_grant()):
            return await super().read_resource(uri, context)

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context | None = None):
        grant = request_grant()
        if grant and grant.read_only and self._writes(name):
            raise ToolError(f"{grant.describe()} may not call '{name}': it is read-only")
        with granted(grant):  # worker threads copy the context: the service sees the grant
            return await self._call_tool(name, arguments, context)

    async def _call_tool(self, name: str, arguments: dict[str, Any], context: Context | None):
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError:
            raise
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                tool = self._tool_manager.get_tool(name)
                raise ToolError(argument_error(name, exc.__cause__.errors(), tool.parameters)) from exc.__cause__
            if str(exc).startswith("Unknown tool"):
                known = ", ".join(t.name for t in self._tool_manager.list_tools())
                raise ToolError(f"unknown tool '{name}': this server has {known}") from None
            prefix = f"Error executing tool {name}: "  # the SDK's; the client knows which tool it called
            if str(exc).startswith(prefix):
                raise ToolError(str(exc)[len(prefix):]) from exc.__cause__
            raise


def _result(text: str, data: BaseModel) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content=data.model_dump(mode="json"))


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


class IngestTracker:
    """This server's current or last ingest, for ingest_status; updated from the worker thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.state = IngestOutput(state="idle", stores=[])

    def start(self, stores: list[str]) -> bool:
        """Mark a run as started; False when one is already running."""
        with self.lock:
            if self.state.state == "running":
                return False
            self.state = IngestOutput(state="running", stores=stores, progress="starting")
            return True

    def update(self, **fields) -> None:
        with self.lock:
            self.state = self.state.model_copy(update=fields)

    def finish(self, report, seconds: float, cancelled: bool) -> None:
        totals = report.totals()
        failed = _unique([f"{p}: {why}" for r in report.stores for p, why in r.failed])
        skipped = _unique([f"{p}: {why}" for r in report.stores for p, why in r.skipped])
        self.update(
            state="cancelled" if cancelled else "done", added=totals.get("added", 0),
            changed=totals.get("changed", 0), removed=totals.get("removed", 0),
            unchanged=totals.get("unchanged", 0), embedded=totals.get("chunks_embedded", 0),
            upserted=totals.get("vectors_upserted", 0), deleted=totals.get("vectors_deleted", 0),
            failed_count=len(failed), skipped_count=len(skipped), failed=failed[:LIST_CAP],
            skipped=skipped[:LIST_CAP], seconds=round(seconds, 3), progress="",
        )

    def fail(self, error: str) -> None:
        self.update(state="failed", error=error)

    def settle(self, seconds: float) -> None:
        """After a run, however it ended: never left 'running', so later ingests are accepted."""
        with self.lock:
            if self.state.state == "running":
                self.state = self.state.model_copy(update={"state": "failed", "error": "the run stopped "
                                                           "without a result; see the server log"})
            if not self.state.seconds:
                self.state = self.state.model_copy(update={"seconds": round(seconds, 3)})

    def snapshot(self) -> IngestOutput:
        with self.lock:
            return self.state.model_copy()


def check_access(svc, write: bool = False) -> None:
    """Under a bearer token's grant (HTTP with tokens): ScopeError unless it may read (write) the
    server's own workspace. Without one (stdio) nothing is asked of the service."""
    if current_grant() is not None:
        svc.check_access(write)


def check_present(svc, paths: list[Path], stores: list[str]) -> None:
    """A given path must be on disk, or held by a store (a deleted file that ingest will remove)."""
    root = svc.root.resolve()
    absent = {p.relative_to(root).as_posix(): p for p in paths if not p.exists()}
    missing = sorted(set(absent) - svc.indexed_paths(absent, stores)) if absent else []
    if missing:
        raise ToolError(f"no such file or folder in the repository, and none indexed: {', '.join(missing[:10])}"
                        + (f" (and {len(missing) - 10} more)" if len(missing) > 10 else "")
                        + "; give paths relative to the repository root. Nothing was ingested.")


def build_server(open_service: Callable[[], Any], *, read_only: bool = False,
                 auth: dict[str, Any] | None = None) -> MCPServer:
    """The server's tools over the service open_service builds (once, lazily, in a worker thread).
    auth: MCPServer's token_verifier and auth settings (mcp_server/auth.py), for HTTP with tokens."""
    state: dict = {}
    service_lock = threading.Lock()
    tracker = IngestTracker()

    def service():
        with service_lock:
            if "service" not in state:
                state["service"] = open_service()
            return state["service"]

    async def call(fn, *args, **kw):
        """Run blocking core work in a thread; a LightfastError becomes a tool error."""
        try:
            return await anyio.to_thread.run_sync(lambda: fn(*args, **kw))
        except LightfastError as exc:
            raise ToolError(str(exc)) from None

    server = LightfastMCP(
        name="lightfast",
        instructions=(
            "Semantic search over this repository's documents and code (one namespace per store in a "
            "shared vector index). Use `search` first and expand a hit with `read_chunk`; run `ingest` "
            "after files change. Answers are compact: raise max_chars only when you need more."
        ),
        **(auth or {}),
    )

    # -- search ------------------------------------------------------------------------------
    def run_search(query, stores, scope, top_k, path_glob, mode) -> SearchOutput:
        svc = service()
        started = time.perf_counter()
        result = svc.search(query, stores=stores or None, scope=scope, top_k=top_k, path_glob=path_glob or None,
                            mode=mode)
        try:
            own = {r.namespace_name: r.store_slug for r in svc.namespace_records("store")}  # this repo's stores
            wanted = stores or [s.slug for s in svc.config.stores]
        except ScopeError:  # a token for other workspaces, searching the organization: not ours to tell
            own, wanted = {}, []
        skipped = {slug: "never ingested in this environment: run the ingest tool"
                   for slug in wanted if slug not in own.values()}
        cache: dict[str, str] = {}
        hits = [
            SearchHit(
                id=h.vector_id, namespace=h.namespace, store=h.store, path=h.path, start_line=h.start_line,
                end_line=h.end_line, score=round(float(h.score), 4), headings=snippet(h.headings or "", 200),
                snippet=snippet(h.text), file_state=file_state(svc.root, h, own, cache),
            )
            for h in result.hits
        ]
        return SearchOutput(query=result.query, namespaces=list(result.namespaces), hits=hits,
                            failed_stores=dict(result.failed), skipped_stores=skipped, notes=list(result.notes),
                            latency_ms=round((time.perf_counter() - started) * 1000, 1))

    @server.tool(
        annotations=ToolAnnotations(title="Search the repo", read_only_hint=True, destructive_hint=False,
                                    idempotent_hint=True, open_world_hint=False),
        description=(
            "Search over this repository's indexed documents and code, by meaning and exact words (mode "
            "'hybrid', the default; 'dense' or 'lexical' for one side only). scope 'store' (default) "
            "searches the named stores, or every store of this lightfast.yml when none are named; "
            "'workspace' every store of the workspace; 'organization' every store of the organization. "
            "Returns hits with path, line range, score, a one-line snippet, the hit's id, and whether the "
            "file changed since it was indexed. Stores that fail are listed, the others still answer. "
            "The text answer is capped at max_chars and says what it cut; call read_chunk with a hit's "
            "id and namespace for the full chunk and its neighbours."
        ),
    )
    async def search(
        query: Annotated[str, Field(description="What to look for, in natural language or code words.",
                                    min_length=1, max_length=MAX_QUERY_CHARS)],
        stores: Annotated[list[str], Field(description="Store slugs from lightfast.yml (scope 'store' only); "
                                                       "empty means all of them.", max_length=100)] = [],
        scope: Annotated[Literal["store", "workspace", "organization"],
                         Field(description="How wide to search.")] = "store",
        top_k: Annotated[int, Field(description="Number of hits to return.", ge=1, le=MAX_TOP_K)] = 8,
        path_glob: Annotated[str, Field(description="Only paths matching this glob, e.g. 'docs/**' or "
                                                    "'*.py'; empty for all.", max_length=500)] = "",
        max_chars: Annotated[int, Field(description="Cap on the text answer, in characters.",
                                        ge=500, le=MAX_CHARS)] = DEFAULT_MAX_CHARS,
        mode: Annotated[Literal["hybrid", "dense", "lexical"],
                        Field(description="hybrid: meaning and exact words, a name's definition first; "
                                          "dense: meaning only; lexical: words only.")] = "hybrid",
    ) -> Annotated[CallToolResult, SearchOutput]:
        if not query.strip():
            raise ToolError("query is empty: give some words to search for")
        if any(not s.strip() for s in stores):
            raise ToolError("stores has an empty slug: name stores from lightfast.yml, or pass [] for all")
        out = await call(run_search, query, stores, scope, top_k, path_glob, mode)
        return _result(search_text(out, max_chars), out)

    # -- read_chunk ----------------------------------------------------------------------------
    @server.tool(
        annotations=ToolAnnotations(title="Read a chunk", read_only_hint=True, destructive_hint=False,
                                    idempotent_hint=True, open_world_hint=False),
        description=(
            "Expand a search hit: the chunk with the given id and namespace (both from the search hit) and "
            "up to `radius` neighbouring chunks on each side, from the same file, with their line ranges "
            "and full text. Two stores can hold the same file, so the id is looked up in that namespace only."
        ),
    )
    async def read_chunk(
        id: Annotated[str, Field(description="A hit's id from search.", min_length=1, max_length=512)],
        namespace: Annotated[str, Field(description="The hit's namespace from search, e.g. "
                                                    "'org_acme:ws_web:store_docs'.", min_length=1, max_length=512)],
        radius: Annotated[int, Field(description="Neighbouring chunks on each side.", ge=0, le=5)] = 1,
        max_chars: Annotated[int, Field(description="Cap on the text answer, in characters.",
                                        ge=500, le=MAX_CHARS)] = 12000,
    ) -> Annotated[CallToolResult, ReadChunkOutput]:
        svc = await call(service)
        found = await call(svc.read_chunk, id, namespace=namespace, radius=radius)
        out = ReadChunkOutput(
            namespace=found["namespace"], store=found["store"], path=found["path"],
            chunks=[ChunkOut(id=c["vector_id"], chunk_index=c["chunk_index"], start_line=c["start_line"],
                             end_line=c["end_line"], text=c["text"]) for c in found["chunks"]],
        )
        lines = [f"{out.path} ({out.store}, {out.namespace})"]
        for c in out.chunks:
            lines.append(f"--- lines {c.start_line}-{c.end_line}{' <- the hit' if c.id == id else ''}")
            lines.extend(c.text.splitlines())
        return _result(cap(lines, max_chars, "lines", "raise max_chars or lower radius"), out)

    # -- namespaces ----------------------------------------------------------------------------
    @server.tool(
        annotations=ToolAnnotations(title="List namespaces", read_only_hint=True, destructive_hint=False,
                                    idempotent_hint=True, open_world_hint=False),
        description=(
            "This organization's namespaces in this environment, as the mirror and the index know them: "
            "record fields (store, workspace, index, model, dimension, chunking), document and vector "
            "counts (mirror and index), last ingest, and namespaces found on one side only."
        ),
    )
    async def list_namespaces(
        limit: Annotated[int, Field(description="Most namespaces to return.", ge=1, le=1000)] = 100,
    ) -> Annotated[CallToolResult, NamespacesOutput]:
        svc = await call(service)
        rows = await call(svc.namespaces)
        out = NamespacesOutput(total=len(rows), namespaces=[namespace_out(r) for r in rows[:limit]])
        lines = [namespace_line(n) for n in out.namespaces] or ["no namespaces yet: run the ingest tool"]
        if out.total > limit:
            lines.append(f"… {out.total - limit} more namespaces (raise limit)")
        return _result(cap(lines, DEFAULT_MAX_CHARS, "namespaces", "lower limit or use namespace_stats"), out)

    def own_row(store: str, with_backend: bool) -> NamespaceStatus | None:
        svc = service()
        check_access(svc)  # a token for another workspace: ScopeError, not "not ingested yet"
        svc.config.store(store)  # an unknown slug -> ConfigError listing the known ones
        return next((r for r in svc.namespaces(with_backend=with_backend)
                     if r.record and (r.record.store_slug, r.record.workspace_id) == (store, svc.config.workspace)),
                    None)

    @server.tool(
        annotations=ToolAnnotations(title="Namespace stats", read_only_hint=True, destructive_hint=False,
                                    idempotent_hint=True, open_world_hint=False),
        description=(
            "One store's namespace (a store slug from this lightfast.yml): its record, document and vector "
            "counts in the mirror and in the index, and its last ingest."
        ),
    )
    async def namespace_stats(
        store: Annotated[str, Field(description="A store slug from lightfast.yml.", min_length=1, max_length=200)],
    ) -> Annotated[CallToolResult, NamespaceOut]:
        row = await call(own_row, store, True)
        if row is None:
            raise ToolError(f"store '{store}' has not been ingested yet: call the ingest tool first")
        out = namespace_out(row)
        problems = await call(lambda: service().index_problems())  # counts only: cheap
        check = "" if problems is None else "; index check: " + (
            "ok" if not problems else f"{problems} problems, run `lightfast doctor`")
        text = (f"{namespace_line(out)}; index {out.index} ({out.environment}); chunks "
                f"{out.chunk_max_tokens} tokens, overlap {out.chunk_overlap}{check}")
        return _result(text, out)

    @server.resource("lightfast://namespaces", name="namespaces", mime_type="application/json",
                     description="This organization's namespace records with document and vector counts (mirror).")
    async def namespaces_resource() -> str:
        svc = await call(service)
        try:
            rows = await call(svc.namespaces, with_backend=False)
        except ToolError as exc:
            raise ResourceNotFoundError(str(exc)) from None
        return NamespacesOutput(total=len(rows), namespaces=[namespace_out(r) for r in rows]).model_dump_json()

    @server.resource("lightfast://namespaces/{store}", name="namespace", mime_type="application/json",
                     description="One store's namespace record (a store of this lightfast.yml) with its counts.")
    async def namespace_resource(store: str) -> str:
        try:
            row = await call(own_row, store, False)
        except ToolError as exc:
            raise ResourceNotFoundError(str(exc)) from None
        if row is None:
            raise ResourceNotFoundError(f"store '{store}' has no namespace yet; ingest it first")
        return namespace_out(row).model_dump_json()

    if read_only:
        return server

    # -- ingest --------------------------------------------------------------------------------
    @server.tool(
        annotations=ToolAnnotations(title="Ingest the repo", read_only_hint=False, destructive_hint=True,
                                    idempotent_hint=True, open_world_hint=False),
        description=(
            "Incremental ingest of this repository into its stores' namespaces: new and changed files are "
            "chunked and embedded, vectors of deleted files removed, unchanged files left alone. Optionally "
            "only some paths (relative to the repository root) or one store. Sends progress notifications "
            "when the request carries a progress token; ingest_status follows a long run from another call. "
            "Returns counts (added, changed, removed, embedded, upserted, failed, skipped with reasons)."
        ),
    )
    async def ingest(
        ctx: Context,
        paths: Annotated[list[str], Field(description="Repo-relative files or folders to (re)ingest; empty "
                                                      "for the whole repository.", max_length=1000)] = [],
        store: Annotated[str, Field(description="Only this store slug; empty for all stores.",
                                    max_length=200)] = "",
        full: Annotated[bool, Field(description="Re-embed everything, not only what changed.")] = False,
    ) -> Annotated[CallToolResult, IngestOutput]:
        svc = await call(service)
        await call(check_access, svc, True)  # the token may write this workspace
        safe = await call(svc.resolve_paths, paths)
        if store:
            await call(svc.config.store, store)  # an unknown slug -> tool error listing the known ones
        stores = [store] if store else [s.slug for s in svc.config.stores]
        if safe:
            await call(check_present, svc, safe, stores)
        if not tracker.start(stores):
            raise ToolError("an ingest is already running in this server: follow it with ingest_status")
        cancel = threading.Event()
        relay = ProgressRelay()

        def on_progress(p) -> None:  # in the worker thread
            notice = relay.feed(p)
            tracker.update(progress=relay.status(p)[:300], embedded=relay.embedded, to_embed=relay.total)
            if notice is None or cancel.is_set():
                return
            try:
                anyio.from_thread.run(ctx.report_progress, notice.progress, notice.total, notice.message)
            except Exception:  # the client went away: keep ingesting
                pass

        def run() -> None:  # in the worker thread
            started = time.perf_counter()
            try:
                report = svc.ingest(stores, full=full, paths=safe, progress=on_progress,
                                    cancelled=cancel.is_set, lock_wait=INGEST_LOCK_WAIT_S)
                tracker.finish(report, time.perf_counter() - started, cancel.is_set())
            except LightfastError as exc:
                tracker.fail(str(exc))
                raise
            except OSError as exc:
                log.exception("ingest failed")
                tracker.fail(f"{exc.strerror or exc} ({type(exc).__name__}"
                             + (f", {exc.filename})" if exc.filename else ")"))
                raise
            except BaseException as exc:
                log.exception("ingest failed")
                tracker.fail(f"internal error ({type(exc).__name__}); see the server log")
                raise
            finally:  # whatever happened, the tracker is never left 'running'
                tracker.settle(time.perf_counter() - started)

        try:
            await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            cancel.set()  # the thread stops between files; ingest_status shows 'cancelled'
            raise
        except Exception:
            # One message for every failure, ours or the system's: what the tracker recorded.
            raise ToolError(f"ingest failed: {tracker.snapshot().error} (nothing is lost: run ingest "
                            "again to finish)") from None
        out = tracker.snapshot()
        return _result(ingest_text(out), out)

    @server.tool(
        annotations=ToolAnnotations(title="Ingest status", read_only_hint=True, destructive_hint=False,
                                    idempotent_hint=True, open_world_hint=False),
        description=(
            "The state of this server's current or last ingest (idle, running, done, cancelled or failed), "
            "its latest progress message and its counts, chunks embedded of chunks to embed included. "
            "Before this server has run one, the last ingest recorded for this repository's stores "
            "(by any process). Call it while a long ingest runs."
        ),
    )
    async def ingest_status() -> Annotated[CallToolResult, IngestOutput]:
        out = tracker.snapshot()
        if current_grant() is not None:  # this workspace's runs are for those who may read it
            await call(check_access, await call(service))
        if out.state == "idle":
            svc = await call(service)
            out = last_recorded(await call(svc.last_ingest_runs), [s.slug for s in svc.config.stores])
        return _result(ingest_text(out), out)

    return server


def warm_in_background(open_service: Callable[[], Any]) -> threading.Thread:
    """Open the service and load the model in a thread, so the handshake is not delayed; log when ready."""

    def run():
        started = time.perf_counter()
        try:
            svc = open_service()
            svc.mirror  # noqa: B018 - opens (and migrates) the mirror now rather than on the first call
            embedder = svc.embedder
            if hasattr(embedder, "warm"):
                embedder.warm()
            log.info("ready: %s loaded in %.1f s", getattr(embedder, "model_name", "embedder"),
                     time.perf_counter() - started)
        except Exception as exc:  # the client sees the same error as a tool error on its first call
            log.warning("warm-up failed: %s", exc)

    thread = threading.Thread(target=run, name="lightfast-warmup", daemon=True)
    thread.start()
    return thread
