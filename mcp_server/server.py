"""The MCP server: search, read_chunk, ingest, ingest_status, list_namespaces, namespace_stats.

`LightfastMCP` is a thin face over an injected core.service.Lightfast, with
typed settings (mcp_server/settings.py). Every blocking call (model load,
embedding, disk, index) runs in a worker thread, never on the event loop.
Tools return structured content (the models of mcp_server/models.py, whose
schemas are the output schemas) and a compact text form capped in characters
(mcp_server/format.py). Input schemas use plain types with defaults ("" and []
mean "not given"), never anyOf/oneOf/allOf, which some clients reject, and
arguments are taken strictly: a wrong type or an unknown name is an error that
lists the accepted arguments (mcp_server/arguments.py). Tools raise core's
errors as they come; each failed call is turned into the client's words in
one place (mcp_server/errors.py), a tool error (isError) that says what to do
next, and the server keeps serving. Ingest progress is one notification per
embedder batch (mcp_server/progress.py).
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
import anyio.from_thread
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from core.errors import ScopeError
from core.service import Lightfast
from mcp_server.arguments import strict_model
from mcp_server.auth import request_grant
from mcp_server.errors import resource_error, tool_error
from mcp_server.format import chunk_text, file_state, ingest_text, namespaces_text, search_text, stats_text
from mcp_server.models import (
    ChunkOut, IngestOutput, NamespaceOut, NamespacesOutput, ReadChunkOutput, SearchOutput, namespace_out,
    search_hit, search_output,
)
from mcp_server.progress import ProgressRelay
from mcp_server.settings import (
    DEFAULT_MAX_CHARS, MAX_CHARS, MAX_QUERY_CHARS, MAX_TOP_K, READ_CHUNK_MAX_CHARS, ServerSettings,
)
from mcp_server.tracking import IngestTracker, last_recorded

READ_TOOLS = ("search", "read_chunk", "list_namespaces", "namespace_stats")
INGEST_TOOLS = ("ingest", "ingest_status")  # left out in read-only mode


@dataclass(frozen=True)
class ToolSpec:
    annotations: ToolAnnotations
    description: str


def tool(title: str, description: str, *, writes: bool = False):
    """Mark a LightfastMCP method as a tool, with what the client is told about it;
    setup_tools registers it."""
    annotations = ToolAnnotations(title=title, read_only_hint=not writes, destructive_hint=writes,
                                  idempotent_hint=True, open_world_hint=False)

    def mark(method):
        method.tool_spec = ToolSpec(annotations, description)
        return method

    return mark


def _result(text: str, data: BaseModel) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content=data.model_dump(mode="json"))


class LightfastMCP(MCPServer):
    """The server's tools and resources over one service (core.service.Lightfast, or anything
    with its methods), which the caller opens and this server only calls.

    Tools take their arguments strictly (no coercion, no unknown names). Over HTTP with tokens,
    every tool call and resource read runs under the grant of the request's bearer token
    (mcp_server/auth.py); a read-only token is not offered, and may not call, a tool that is not
    annotated read-only. mcp_settings: MCPServer's own (token_verifier and auth for HTTP with
    tokens)."""

    def __init__(self, service: Lightfast, settings: ServerSettings | None = None, **mcp_settings: Any):
        self.service = service
        self.server_settings = settings or ServerSettings()
        self.tracker = IngestTracker()
        super().__init__(name=self.server_settings.name, instructions=self.server_settings.instructions,
                         **mcp_settings)
        self.setup_tools()

    def setup_tools(self) -> None:
        """Register the tools (the ingest ones unless read-only) and the resources."""
        names = READ_TOOLS if self.server_settings.read_only else READ_TOOLS + INGEST_TOOLS
        for name in names:
            method = getattr(self, name)
            self.add_tool(method, name=name, description=method.tool_spec.description,
                          annotations=method.tool_spec.annotations)
        self.resource("lightfast://namespaces", name="namespaces", mime_type="application/json",
                      description="This organization's namespace records with document and vector counts "
                                  "(mirror).")(self.namespaces_resource)
        self.resource("lightfast://namespaces/{store}", name="namespace", mime_type="application/json",
                      description="One store's namespace record (a store of this lightfast.yml) with its "
                                  "counts.")(self.namespace_resource)

    # -- the protocol side: strict arguments, grants, errors -------------------------------------
    def add_tool(self, fn, name: str | None = None, **kw) -> None:
        super().add_tool(fn, name=name, **kw)
        # MCPServer builds the argument model on pydantic's lax defaults (python-sdk issue 3067);
        # the registered Tool is reachable only through the tool manager.
        registered = self._tool_manager.get_tool(name or fn.__name__)
        registered.fn_metadata.arg_model = strict_model(registered.fn_metadata.arg_model)
        registered.parameters = registered.fn_metadata.arg_model.model_json_schema(by_alias=True)

    def _writes(self, name: str) -> bool:
        registered = self._tool_manager.get_tool(name)
        return registered is not None and not (registered.annotations and registered.annotations.read_only_hint)

    async def list_tools(self):
        grant = request_grant()
        tools = await super().list_tools()
        return [t for t in tools if not (grant and grant.read_only and self._writes(t.name))]

    async def read_resource(self, uri, context: Context | None = None):
        with Lightfast.granted(request_grant()):
            try:
                return await super().read_resource(uri, context)
            except ResourceError as exc:
                raise resource_error(exc) from exc.__cause__

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context | None = None):
        grant = request_grant()
        if grant and grant.read_only and self._writes(name):
            raise ToolError(f"{grant.describe()} may not call '{name}': it is read-only")
        with Lightfast.granted(grant):  # worker threads copy the context: the service sees the grant
            try:
                return await super().call_tool(name, arguments, context)
            except ToolError as exc:
                registered = self._tool_manager.get_tool(name)
                known = [t.name for t in self._tool_manager.list_tools()]
                raise tool_error(exc, name, registered.parameters if registered else None, known) from exc.__cause__

    async def _blocking(self, fn, *args, **kw):
        """Blocking core work (model, disk, index) in a worker thread, never on the event loop."""
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kw))

    # -- search ------------------------------------------------------------------------------
    @tool("Search the repo", (
        "Search over this repository's indexed documents and code, by meaning and exact words (mode "
        "'hybrid', the default; 'dense' or 'lexical' for one side only). scope 'store' (default) "
        "searches the named stores, or every store of this lightfast.yml when none are named; "
        "'workspace' every store of the workspace; 'organization' every store of the organization. "
        "Returns hits with path, line range, score, a one-line snippet, the hit's id, and whether the "
        "file changed since it was indexed. Stores that fail are listed, the others still answer. "
        "The text answer is capped at max_chars and says what it cut; call read_chunk with a hit's "
        "id and namespace for the full chunk and its neighbours."
    ))
    async def search(
        self,
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
        out = await self._blocking(self._search, query, stores, scope, top_k, path_glob, mode)
        return _result(search_text(out, max_chars), out)

    def _search(self, query, stores, scope, top_k, path_glob, mode) -> SearchOutput:
        """The service's search (which checks the query) with each hit's file state, and the
        configured stores that were never ingested."""
        svc = self.service
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
        hits = [search_hit(h, file_state(svc.root, h, own, cache)) for h in result.hits]
        return search_output(result, hits, skipped, latency_ms=(time.perf_counter() - started) * 1000)

    # -- read_chunk ----------------------------------------------------------------------------
    @tool("Read a chunk", (
        "Expand a search hit: the chunk with the given id and namespace (both from the search hit) and "
        "up to `radius` neighbouring chunks on each side, from the same file, with their line ranges "
        "and full text. Two stores can hold the same file, so the id is looked up in that namespace only."
    ))
    async def read_chunk(
        self,
        id: Annotated[str, Field(description="A hit's id from search.", min_length=1, max_length=512)],
        namespace: Annotated[str, Field(description="The hit's namespace from search, e.g. "
                                                    "'org_acme:ws_web:store_docs'.", min_length=1, max_length=512)],
        radius: Annotated[int, Field(description="Neighbouring chunks on each side.", ge=0, le=5)] = 1,
        max_chars: Annotated[int, Field(description="Cap on the text answer, in characters.",
                                        ge=500, le=MAX_CHARS)] = READ_CHUNK_MAX_CHARS,
    ) -> Annotated[CallToolResult, ReadChunkOutput]:
        found = await self._blocking(self.service.read_chunk, id, namespace=namespace, radius=radius)
        out = ReadChunkOutput(
            namespace=found["namespace"], store=found["store"], path=found["path"],
            chunks=[ChunkOut(id=c["vector_id"], chunk_index=c["chunk_index"], start_line=c["start_line"],
                             end_line=c["end_line"], text=c["text"]) for c in found["chunks"]],
        )
        return _result(chunk_text(out, id, max_chars), out)

    # -- namespaces ----------------------------------------------------------------------------
    @tool("List namespaces", (
        "This organization's namespaces in this environment, as the mirror and the index know them: "
        "record fields (store, workspace, index, model, dimension, chunking), document and vector "
        "counts (mirror and index), last ingest, and namespaces found on one side only."
    ))
    async def list_namespaces(
        self,
        limit: Annotated[int, Field(description="Most namespaces to return.", ge=1, le=1000)] = 100,
    ) -> Annotated[CallToolResult, NamespacesOutput]:
        rows = await self._blocking(self.service.namespaces)
        out = NamespacesOutput(total=len(rows), namespaces=[namespace_out(r) for r in rows[:limit]])
        return _result(namespaces_text(out, DEFAULT_MAX_CHARS), out)

    @tool("Namespace stats", (
        "One store's namespace (a store slug from this lightfast.yml): its record, document and vector "
        "counts in the mirror and in the index, and its last ingest."
    ))
    async def namespace_stats(
        self,
        store: Annotated[str, Field(description="A store slug from lightfast.yml.", min_length=1, max_length=200)],
    ) -> Annotated[CallToolResult, NamespaceOut]:
        out = namespace_out(await self._blocking(self.service.store_namespace_row, store, True))
        problems = await self._blocking(self.service.index_problems)  # counts only: cheap
        return _result(stats_text(out, problems), out)

    async def namespaces_resource(self) -> str:
        rows = await self._blocking(self.service.namespaces, with_backend=False)
        return NamespacesOutput(total=len(rows), namespaces=[namespace_out(r) for r in rows]).model_dump_json()

    async def namespace_resource(self, store: str) -> str:
        return namespace_out(await self._blocking(self.service.store_namespace_row, store)).model_dump_json()

    # -- ingest --------------------------------------------------------------------------------
    @tool("Ingest the repo", (
        "Incremental ingest of this repository into its stores' namespaces: new and changed files are "
        "chunked and embedded, vectors of deleted files removed, unchanged files left alone. Optionally "
        "only some paths (relative to the repository root) or one store. Sends progress notifications "
        "when the request carries a progress token; ingest_status follows a long run from another call. "
        "Returns counts (added, changed, removed, embedded, upserted, failed, skipped with reasons)."
    ), writes=True)
    async def ingest(
        self,
        ctx: Context,
        paths: Annotated[list[str], Field(description="Repo-relative files or folders to (re)ingest; empty "
                                                      "for the whole repository.", max_length=1000)] = [],
        store: Annotated[str, Field(description="Only this store slug; empty for all stores.",
                                    max_length=200)] = "",
        full: Annotated[bool, Field(description="Re-embed everything, not only what changed.")] = False,
    ) -> Annotated[CallToolResult, IngestOutput]:
        svc = self.service
        svc.check_access(write=True)  # a token that may not write this workspace: refused before any work
        safe = await self._blocking(svc.resolve_paths, paths)
        if store:
            svc.config.store(store)  # an unknown slug -> ConfigError listing the known ones
        stores = [store] if store else [s.slug for s in svc.config.stores]
        if safe:
            await self._blocking(check_present, svc, safe, stores)
        cancel = threading.Event()
        relay = ProgressRelay()

        def on_progress(p) -> None:  # in the worker thread
            notice = relay.feed(p)
            self.tracker.update(progress=relay.status(p)[:300], embedded=relay.embedded, to_embed=relay.total)
            if notice is None or cancel.is_set():
                return
            try:
                anyio.from_thread.run(ctx.report_progress, notice.progress, notice.total, notice.message)
            except Exception:  # the client went away: keep ingesting
                pass

        def run() -> None:  # in the worker thread, which tracks the run from start to end
            with self.tracker.run(stores) as tracked:
                report = svc.ingest(stores, full=full, paths=safe, progress=on_progress,
                                    cancelled=cancel.is_set, lock_wait=self.server_settings.ingest_lock_wait_s)
                tracked.finish(report, cancel.is_set())

        try:
            await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            cancel.set()  # the thread stops between files; ingest_status shows 'cancelled'
            raise
        except ToolError:  # another ingest is running
            raise
        except Exception:
            # One message for every failure, ours or the system's: what the tracker recorded.
            raise ToolError(f"ingest failed: {self.tracker.snapshot().error} (nothing is lost: run ingest "
                            "again to finish)") from None
        out = self.tracker.snapshot()
        return _result(ingest_text(out), out)

    @tool("Ingest status", (
        "The state of this server's current or last ingest (idle, running, done, cancelled or failed), "
        "its latest progress message and its counts, chunks embedded of chunks to embed included. "
        "Before this server has run one, the last ingest recorded for this repository's stores "
        "(by any process). Call it while a long ingest runs."
    ))
    async def ingest_status(self) -> Annotated[CallToolResult, IngestOutput]:
        svc = self.service
        svc.check_access()  # this workspace's runs are for those who may read it
        out = self.tracker.snapshot()
        if out.state == "idle":
            out = last_recorded(await self._blocking(svc.last_ingest_runs), [s.slug for s in svc.config.stores])
        return _result(ingest_text(out), out)


def check_present(svc: Lightfast, paths: list[Path], stores: list[str]) -> None:
    """A given path must be on disk, or held by a store (a deleted file that ingest will remove)."""
    root = svc.root.resolve()
    absent = {p.relative_to(root).as_posix(): p for p in paths if not p.exists()}
    missing = sorted(set(absent) - svc.indexed_paths(absent, stores)) if absent else []
    if missing:
        raise ToolError(f"no such file or folder in the repository, and none indexed: {', '.join(missing[:10])}"
                        + (f" (and {len(missing) - 10} more)" if len(missing) > 10 else "")
                        + "; give paths relative to the repository root. Nothing was ingested.")
