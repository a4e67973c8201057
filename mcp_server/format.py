"""Shaping results for a model's context: snippets, file freshness, capped text, argument errors."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from core.types import IngestRun, NamespaceStatus

SNIPPET_CHARS = 400


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The chunk's text on one line, cut at limit characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def freshness(root: Path, path: str, indexed_hash: str, cache: dict[str, str]) -> str:
    """'fresh', 'changed' or 'deleted': the file on disk against the sha256 it was indexed with.

    'unknown' when there is no hash to compare or the path does not stay inside root.
    """
    if not indexed_hash:
        return "unknown"
    if path not in cache:
        file = (root / path).resolve()
        if not file.is_relative_to(root.resolve()):
            cache[path] = "?"
        else:
            try:
                cache[path] = hashlib.sha256(file.read_bytes()).hexdigest()
            except OSError:
                cache[path] = ""
    current = cache[path]
    if current == "?":
        return "unknown"
    if not current:
        return "deleted"
    return "fresh" if current == indexed_hash else "changed"


def file_state(root: Path, hit, own: dict[str, str], cache: dict[str, str]) -> str:
    """A hit's freshness against this server's root; 'unknown' when its namespace is not one of
    this lightfast.yml's stores (another workspace's or repository's files live elsewhere)."""
    if hit.namespace not in own:
        return "unknown"
    return freshness(root, hit.path, hit.content_hash, cache)


def cap(lines: list[str], max_chars: int, unit: str, hint: str = "raise max_chars or lower top_k") -> str:
    """Join lines within max_chars, the cut notice included; say what was cut and how to get it."""
    text = "\n".join(lines)
    if len(text) <= max_chars:
        return text
    out, used = [], 0
    for i, line in enumerate(lines):
        notice = f"… cut: {len(lines) - i} more {unit} ({hint})"
        if used + len(line) + 1 + len(notice) > max_chars:
            if not out:  # the first line alone is too long: keep its start
                notice = f"… cut: the rest of this line and {len(lines) - i - 1} more {unit} ({hint})"
                out.append(line[: max(0, max_chars - len(notice) - 2)] + "…")
            out.append(notice)
            break
        out.append(line)
        used += len(line) + 1
    text = "\n".join(out)
    if len(text) > max_chars:  # a cap shorter than the cut notice itself
        text = text[: max_chars - 1] + "…" if max_chars > 0 else ""
    return text


# -- structured output: these models' JSON schemas are the tools' output schemas -------
LIST_CAP = 100  # entries of skipped/failed lists kept in an ingest answer


class SearchHit(BaseModel):
    id: str = Field(description="Vector id: pass it to read_chunk, with namespace, to expand the hit.")
    namespace: str = Field(description="The hit's namespace: pass it to read_chunk with the id.")
    store: str
    path: str = Field(description="Path relative to the store's repository root.")
    start_line: int
    end_line: int
    score: float
    headings: str = Field("", description="The Markdown headings above the chunk, if any.")
    snippet: str = Field(description=f"The chunk's text on one line, at most {SNIPPET_CHARS} characters.")
    file_state: str = Field(description="fresh, changed or deleted since it was indexed; unknown for "
                                        "another repository's stores.")


class SearchOutput(BaseModel):
    query: str
    namespaces: list[str] = Field(description="Namespaces searched.")
    hits: list[SearchHit]
    failed_stores: dict[str, str] = Field(description="Namespace -> error, for namespaces that could not be "
                                                      "searched; the other namespaces' hits are still returned.")
    skipped_stores: dict[str, str] = Field(default_factory=dict,
                                           description="Store slug -> why it was not searched (e.g. never "
                                                       "ingested).")
    latency_ms: float = Field(0.0, description="Time the search took in the server (embedding included).")
    notes: list[str] = Field(default_factory=list, description="How the answer was made when it differs from "
                                                               "usual, e.g. rerank unavailable, merged by score.")


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


class IngestOutput(BaseModel):
    state: str = Field(description="idle, running, done, cancelled or failed.")
    stores: list[str]
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    embedded: int = Field(0, description="Chunks embedded.")
    upserted: int = Field(0, description="Vectors written to the index.")
    deleted: int = Field(0, description="Vectors deleted from the index.")
    failed_count: int = 0
    skipped_count: int = 0
    failed: list[str] = Field(default_factory=list,
                              description=f"'path: reason' for files that failed (first {LIST_CAP}).")
    skipped: list[str] = Field(default_factory=list,
                               description=f"'path: reason' for files skipped (first {LIST_CAP}).")
    to_embed: int = Field(0, description="Chunks to embed in this run, as far as known (every store's total "
                                         "is known once its files are prepared); embedded counts up to it.")
    progress: str = Field("", description="The latest progress message while running.")
    seconds: float = 0.0
    error: str = ""
    source: str = Field("this server", description="'this server' (its current or last run) or 'mirror' (the "
                                                   "last runs recorded for these stores, by any process).")
    finished_at: str = Field("", description="When the recorded run finished (source 'mirror').")


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


def namespace_line(n: NamespaceOut) -> str:
    if n.only_in == "index":
        return f"{n.namespace}: only in the index ({n.index_vectors} vectors), no mirror record"
    index = "?" if n.index_vectors < 0 else str(n.index_vectors)
    flag = " [only in the mirror]" if n.only_in == "mirror" else ""
    return (f"{n.namespace}: {n.documents} documents, {n.vectors} vectors (index {index}){flag}, "
            f"{n.embedding_model} {n.dimension}-d, last ingest {n.last_ingest or 'never'}"
            + (f" ({n.last_ingest_status})" if n.last_ingest_status and n.last_ingest_status != "ok" else ""))


def search_text(out: SearchOutput, max_chars: int) -> str:
    lines = [f"{len(out.hits)} hits in {len(out.namespaces)} namespace(s) for {snippet(out.query, 200)!r}"]
    for i, h in enumerate(out.hits, 1):
        note = "" if h.file_state in ("fresh", "unknown") else f" [file {h.file_state} since indexed]"
        lines.append(f"{i}. {h.path}:{h.start_line}-{h.end_line} ({h.store}, score {h.score:.3f}){note} "
                     f"id={h.id} namespace={h.namespace}")
        lines.append(f"   {h.snippet}")
    lines += [f"failed: {ns}: {err}" for ns, err in out.failed_stores.items()]
    lines += [f"skipped store {slug}: {why}" for slug, why in out.skipped_stores.items()]
    lines += [f"note: {note}" for note in out.notes]
    if out.hits:
        lines.append("Expand a hit with read_chunk(id, namespace).")
    return cap(lines, max_chars, "lines")


RUN_STATES = {"ok": "done", "failed": "failed", "cancelled": "cancelled", "running": "running",
              "interrupted": "failed"}


def last_recorded(runs: list[IngestRun], stores: list[str]) -> IngestOutput:
    """The stores' last recorded runs (mirror ingest_runs rows) as one ingest_status answer."""
    if not runs:
        return IngestOutput(state="idle", stores=stores, source="mirror",
                            progress="no ingest recorded for these stores yet: call the ingest tool")
    states = {RUN_STATES.get(r.status, r.status) for r in runs}
    state = next((s for s in ("running", "failed", "cancelled") if s in states), "done")
    total = {k: sum(getattr(r, k) for r in runs) for k in (
        "added", "changed", "removed", "unchanged", "chunks_embedded", "vectors_upserted", "vectors_deleted",
        "failed", "skipped")}
    errors = _unique_list(f"{r.store_slug}: {r.error}" for r in runs if r.error)
    return IngestOutput(
        state=state, stores=[r.store_slug for r in runs], added=total["added"], changed=total["changed"],
        removed=total["removed"], unchanged=total["unchanged"], embedded=total["chunks_embedded"],
        upserted=total["vectors_upserted"], deleted=total["vectors_deleted"], failed_count=total["failed"],
        skipped_count=total["skipped"], error="; ".join(errors)[:1000], source="mirror",
        finished_at=max(r.finished_at or "" for r in runs),
        progress="running in another process (or stopped there without finishing)" if state == "running" else "",
    )


def _unique_list(items) -> list[str]:
    return list(dict.fromkeys(items))


def ingest_text(out: IngestOutput) -> str:
    lines = [f"ingest {out.state} ({', '.join(out.stores) or 'no stores'}): {out.added} added, "
             f"{out.changed} changed, {out.removed} removed, {out.unchanged} unchanged; {out.embedded} chunks "
             f"embedded, {out.upserted} vectors upserted, {out.deleted} deleted; {out.failed_count} failed, "
             f"{out.skipped_count} skipped ({out.seconds:.1f} s)"]
    if out.source == "mirror" and out.state == "idle":
        return f"no ingest recorded yet for {', '.join(out.stores) or 'these stores'}: call the ingest tool"
    if out.source == "mirror":
        lines[0] = (f"last recorded ingest {out.state} ({', '.join(out.stores) or 'no stores'}, finished "
                    f"{out.finished_at or 'never'}; this server has not run one): " + lines[0].split("): ", 1)[1])
    if out.state == "running" and out.source != "mirror":  # counts come at the end; say how far it is
        lines = [f"ingest running ({', '.join(out.stores)}): embedded {out.embedded} of {out.to_embed} chunks "
                 "so far (the total grows as each store's files are prepared)"]
    if out.progress and (out.state == "running" or out.state == "idle"):
        lines.append(f"progress: {out.progress}")
    if out.error:
        lines.append(f"error: {out.error}")
    lines += [f"failed {f}" for f in out.failed[:20]]
    lines += [f"skipped {s}" for s in out.skipped[:20]]
    hidden = max(0, out.failed_count - 20) + max(0, out.skipped_count - 20)
    if hidden:
        lines.append(f"… {hidden} more failed/skipped files not listed here")
    return cap(lines, 6000, "lines", "see the structured result")
