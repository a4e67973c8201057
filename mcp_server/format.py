"""The tools' text answers, for a model's context: snippets, file freshness, capped text.

Each text answer is a function of the tool's structured output
(mcp_server/models.py), tested alone in tests/test_mcp_format.py; it is capped
in characters and says what it cut and how to get the rest. `freshness` is the
one that reads the disk: a hit's file against the hash it was indexed with.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from mcp_server.models import IngestOutput, NamespaceOut, NamespacesOutput, ReadChunkOutput, SearchOutput, snippet


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


def namespace_line(n: NamespaceOut) -> str:
    if n.only_in == "index":
        return f"{n.namespace}: only in the index ({n.index_vectors} vectors), no mirror record"
    index = "?" if n.index_vectors < 0 else str(n.index_vectors)
    flag = " [only in the mirror]" if n.only_in == "mirror" else ""
    return (f"{n.namespace}: {n.documents} documents, {n.vectors} vectors (index {index}){flag}, "
            f"{n.embedding_model} {n.dimension}-d, last ingest {n.last_ingest or 'never'}"
            + (f" ({n.last_ingest_status})" if n.last_ingest_status and n.last_ingest_status != "ok" else ""))


def search_text(out: SearchOutput, max_chars: int) -> str:
    n = len(out.hits)
    lines = [f"{n} hit{'' if n == 1 else 's'} in {len(out.namespaces)} namespace(s) for {snippet(out.query, 200)!r}"]
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


def _duration(out: IngestOutput) -> str:
    """' (N s)', or nothing for recorded runs whose duration is unknown (one had not finished)."""
    return "" if out.source == "mirror" and not out.seconds else f" ({out.seconds:.1f} s)"


def ingest_text(out: IngestOutput) -> str:
    lines = [f"ingest {out.state} ({', '.join(out.stores) or 'no stores'}): {out.added} added, "
             f"{out.changed} changed, {out.removed} removed, {out.unchanged} unchanged; {out.embedded} chunks "
             f"embedded, {out.upserted} vectors upserted, {out.deleted} deleted; {out.failed_count} failed, "
             f"{out.skipped_count} skipped" + _duration(out)]
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


def chunk_text(out: ReadChunkOutput, hit_id: str, max_chars: int) -> str:
    lines = [f"{out.path} ({out.store}, {out.namespace})"]
    for c in out.chunks:
        lines.append(f"--- lines {c.start_line}-{c.end_line}{' <- the hit' if c.id == hit_id else ''}")
        lines.extend(c.text.splitlines())
    return cap(lines, max_chars, "lines", "raise max_chars or lower radius")


def namespaces_text(out: NamespacesOutput, max_chars: int) -> str:
    lines = [namespace_line(n) for n in out.namespaces] or ["no namespaces yet: run the ingest tool"]
    if out.total > len(out.namespaces):
        lines.append(f"… {out.total - len(out.namespaces)} more namespaces (raise limit)")
    return cap(lines, max_chars, "namespaces", "lower limit or use namespace_stats")


def stats_text(out: NamespaceOut, problems: int | None) -> str:
    """One store's line; problems: the counts-only index check's finding (None: not checked)."""
    check = "" if problems is None else "; index check: " + (
        "ok" if not problems else f"{problems} problems, run `lightfast doctor`")
    return (f"{namespace_line(out)}; index {out.index} ({out.environment}); chunks "
            f"{out.chunk_max_tokens} tokens, overlap {out.chunk_overlap}{check}")
