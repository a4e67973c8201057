"""Ingest: the design's process-documents and delete-documents, through a namespace.

Per store: recover the journal of a killed run, find the store's files, keep
the unchanged ones (size+mtime, then content hash), and for new or changed
documents chunk, embed and upsert in bounded batches. The protocol that makes
a kill at any moment converge on the next run:

1. journal the batch's vector ids as pending (mirror);
2. upsert the vectors (index);
3. in one mirror transaction, point the documents at their new entries and
   journal the ids they no longer hold;
4. delete those ids from the index, then clear the journal.

Vector ids are deterministic (path, content hash, chunk index), so a repeated
upsert overwrites instead of duplicating; a journalled id that no entry
references is deleted from the index by the next run's recovery.

Three threads overlap (core/pipeline.py): a reader reads, vets, hashes and
chunks the files in order; the caller's thread embeds them in batches and
sends every progress report; a writer runs steps 1-4 of batch k while batch
k+1 is embedded. The embed stage's total therefore grows until the reader is
done (Progress.total_final).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from core.chunking import Chunk, chunk_text
from core.config import StoreConfig
from core.embeddings.base import Embedder
from core.mirror import Mirror
from core.pipeline import ReadAhead, WriteBehind
from core.records import NamespaceRecord
from core.scan import FoundFile, Skipped, StoreMatcher, Unusable, read_found
from core.vectors.base import VectorIndex, VectorRecord

#: Chunks embedded and upserted together; bounds memory on any repo size.
BATCH_CHUNKS = 256


@dataclass(frozen=True)
class Progress:
    """One progress report; the CLI, TUI and MCP server all render these.

    Stages, in order: "recover" (a killed run's journal), "scan" (files read,
    hashed and chunked: done/total count files), "embed" (done/total count
    chunks; one report per embedder batch), "delete" (files removed), "done".

    Files are still being read while the first batches embed: until
    `total_final`, an "embed" total counts the chunks found so far and grows
    (files_read/files_total say how far reading is), and no ETA is given.
    A run small enough to be read before its first batch is full announces
    its final total in its first "embed" report.
    """

    store: str
    stage: str  # "recover" | "scan" | "embed" | "delete" | "done"
    done: int
    total: int
    message: str = ""
    #: Chunks embedded per second in this store's embed stage so far.
    rate: float | None = None
    #: Seconds left at that rate.
    eta_s: float | None = None
    #: Vectors written to the index so far in this store's run.
    vectors_written: int = 0
    #: False while files are still being read: `total` is then the chunks found so far.
    total_final: bool = True
    #: Files read and chunked so far, of the new or changed files this run reads.
    files_read: int = 0
    files_total: int = 0

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


ProgressCallback = Callable[[Progress], None]


@dataclass
class StoreReport:
    store: str
    namespace: str
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    chunks_embedded: int = 0
    vectors_upserted: int = 0
    vectors_deleted: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    #: Unchanged files re-embedded because their vectors were missing from the index.
    repaired: int = 0

    def counts(self) -> dict[str, int]:
        return {
            "added": self.added, "changed": self.changed, "removed": self.removed,
            "unchanged": self.unchanged, "chunks_embedded": self.chunks_embedded,
            "vectors_upserted": self.vectors_upserted, "vectors_deleted": self.vectors_deleted,
            "failed": len(self.failed), "skipped": len(self.skipped), "repaired": self.repaired,
        }


def ingest_summary(counts: Mapping[str, int]) -> str:
    """An ingest's counts in one line (StoreReport.counts(), or their sums over a run): the same
    in the progress 'done' report, the watcher, the TUI and the webhook's log."""
    c = {key: counts.get(key, 0) for key in (
        "added", "changed", "removed", "unchanged", "chunks_embedded", "repaired", "skipped", "failed")}
    repaired = f", {c['repaired']:,} re-embedded (vectors missing from the index)" if c["repaired"] else ""
    return (f"{c['added']:,} added, {c['changed']:,} changed, {c['removed']:,} removed, "
            f"{c['unchanged']:,} unchanged, {c['chunks_embedded']:,} chunks embedded{repaired}, "
            f"{c['skipped']:,} skipped, {c['failed']:,} failed")


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def paths_missing_vectors(mirror: Mirror, index: VectorIndex, namespace: NamespaceRecord) -> set[str]:
    """Paths of documents some of whose vectors the index lacks (its files deleted or lost).

    One count first; ids are listed only when the counts differ. Only for an index whose
    counts are exact at once (the local one): Pinecone's lag behind its writes.
    """
    name = namespace.namespace_name
    expected = mirror.counts(namespace.id).vectors
    if index.namespace_stats(name).vector_count == expected:
        return set()
    held: set[str] = set()
    token = None
    while True:
        ids, token = index.list_ids(name, limit=1000, pagination_token=token)
        held.update(ids)
        if token is None:
            break
    return {path for vid, path in mirror.vector_paths(namespace.id).items() if vid not in held}


def vector_id(path: str, digest: str, chunk_index: int) -> str:
    """Deterministic: the same file content always gets the same ids.

    `path` is the stored form (core.scan.escape_path), plain UTF-8 for any name the
    OS allows; a raw name with undecodable bytes (surrogateescape) is hashed by its bytes.
    """
    path_key = hashlib.sha1(path.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return f"{path_key}:{digest[:16]}:{chunk_index}"


@dataclass
class _Pending:
    file: FoundFile
    digest: str
    chunks: list[Chunk]
    is_new: bool


_UNCHANGED = _Pending(None, "", [], False)  # type: ignore[arg-type]


class StoreIngest:
    """Brings one namespace in line with one store's files."""

    def __init__(
        self,
        mirror: Mirror,
        index: VectorIndex,
        embedder: Embedder,
        namespace: NamespaceRecord,
        store: StoreConfig,
        progress: ProgressCallback | None = None,
        cancelled: Callable[[], bool] | None = None,
    ):
        self.mirror = mirror
        self.index = index
        self.embedder = embedder
        self.ns = namespace
        self.name = namespace.namespace_name
        self.store = store
        self.progress = progress or (lambda p: None)
        self.cancelled = cancelled or (lambda: False)
        self.report = StoreReport(store.slug, self.name)
        self._total = 0  # chunks found so far, as the last report gave them: all of them once read
        self._found = 0  # chunks of the files the reader has prepared (written by the reader thread)
        self._found_files = 0  # new or changed files the reader has prepared (reader thread)
        self._embedding = False
        self._reader: ReadAhead | None = None
        self._embed_started = time.perf_counter()
        self.max_tokens = min(store.chunking.max_tokens, embedder.max_tokens)
        self.overlap = store.chunking.overlap

    # -- recovery -------------------------------------------------------------
    def recover(self) -> None:
        """Finish what a killed run left in the journal."""
        self.index.ensure_lexical(self.name)  # a namespace from before the lexical index gets one
        unreferenced, referenced = self.mirror.unreferenced_pending(self.ns.id)
        if unreferenced:
            self.progress(Progress(self.store.slug, "recover", 0, len(unreferenced),
                                   "removing vectors of an interrupted run"))
            self.index.delete(self.name, unreferenced)
            self.report.vectors_deleted += len(unreferenced)
        if unreferenced or referenced:
            self.mirror.clear_pending(self.ns.id, unreferenced + referenced)

    # -- main loop ------------------------------------------------------------
    def run(
        self,
        found: Sequence[FoundFile | Skipped],
        *,
        full: bool = False,
        only_paths: set[str] | None = None,
        check_index: bool = False,
    ) -> StoreReport:
        started = time.perf_counter()
        self.recover()
        # Documents whose vectors the index lost count as changed, so a plain ingest repairs them.
        missing = paths_missing_vectors(self.mirror, self.index, self.ns) if check_index and not full else set()
        matcher = StoreMatcher(self.store.include, self.store.exclude)
        known = self.mirror.documents(self.ns.id)
        files: list[FoundFile] = []
        present: set[str] = set()
        def selected(path: str) -> bool:  # a given path also selects what lies below it
            return only_paths is None or path in only_paths or any(path.startswith(p + "/") for p in only_paths)

        for item in found:
            if not matcher.matches(item.path) or not selected(item.path):
                continue
            if isinstance(item, Skipped):
                self.report.skipped.append((item.path, item.reason))
                continue
            present.add(item.path)
            doc = known.get(item.path)
            same_stat = doc and doc["size"] == item.size and doc["mtime_ns"] == item.mtime_ns
            if same_stat and not full and item.path not in missing:
                self.report.unchanged += 1
            else:
                files.append(item)

        gone = sorted(p for p in known if selected(p) and p not in present)
        self.progress(Progress(self.store.slug, "scan", 0, len(files),
                               f"{len(files)} new or changed, {len(gone)} removed", files_total=len(files)))

        def prepare(file: FoundFile) -> tuple[FoundFile, _Pending | None]:  # on the reader thread
            item = self._prepare(file, known.get(file.path), full or file.path in missing)
            if item is not None and item is not _UNCHANGED:
                self._found += len(item.chunks)
                self._found_files += 1
            return file, item

        # Files are read, vetted and chunked on a reader thread (core/pipeline.py) while the
        # batches before are embedded here, and written on the writer thread after that.
        with ReadAhead(files, prepare, stop=self.cancelled, on_exit=self.mirror.close) as reader:
            self._reader = reader
            gone += self._embed_all(reader, missing, known)
        self._total = self._found  # every chunk found: all of them unless cancelled
        if gone and not self.cancelled():
            self._remove(gone)
        self.report.seconds = time.perf_counter() - started
        self.progress(Progress(self.store.slug, "done", self.report.chunks_embedded, self._total,
                               self._summary(), vectors_written=self.report.vectors_upserted,
                               total_final=reader.finished, files_read=reader.prepared, files_total=len(files)))
        return self.report

    def _embed_all(self, reader: ReadAhead, missing: set[str], known: dict) -> list[str]:
        """Embed and write the files as the reader prepares them, in batches of about
        BATCH_CHUNKS chunks; the paths of known files now skipped or failed, to remove.

        Until the first batch is full the reports are "scan" (files read of files to read);
        from then on "embed" (chunks embedded of chunks found so far, a total that grows
        until the reader is done: see Progress.total_final). Batch k is written (core/pipeline.py)
        while batch k+1 is embedded."""
        gone: list[str] = []
        with WriteBehind(on_exit=self.mirror.close) as writer:
            batch: list[_Pending] = []
            batch_chunks = 0
            for file, item in reader:
                if self.cancelled():
                    return gone
                if item is None:  # skipped or failed: what it held must not stay searchable
                    if file.path in known:
                        gone.append(file.path)
                elif item is not _UNCHANGED:
                    self.report.repaired += int(file.path in missing)
                    batch.append(item)
                    batch_chunks += len(item.chunks)
                if not self._embedding:
                    self.progress(Progress(self.store.slug, "scan", reader.prepared, reader.total, file.path,
                                           files_read=reader.prepared, files_total=reader.total))
                if batch_chunks >= BATCH_CHUNKS:
                    self._write(batch, writer)
                    batch, batch_chunks = [], 0
            if batch and not self.cancelled():
                self._write(batch, writer)
        return gone

    def _start_embed(self) -> None:
        """The first "embed" report, before the first batch goes to the embedder."""
        self._embedding = True
        self._embed_started = time.perf_counter()
        if self._reader.finished:
            files = self._found_files
            self._report_embed(f"{files} file{'s' * (files != 1)} to embed")
        else:
            self._report_embed(f"embedding while reading files: {self._reader.prepared:,} of "
                               f"{self._reader.total:,} read")

    def _report_embed(self, message: str, in_flight: int = 0) -> None:
        """An "embed" report: in_flight counts chunks of the current batch already embedded.

        The total is the chunks the reader has found so far; final (and an ETA given)
        only once it has read every file."""
        final = self._reader.finished  # read before the count, so a final total is the whole one
        self._total = self._found
        done = self.report.chunks_embedded + in_flight
        elapsed = time.perf_counter() - self._embed_started
        rate = done / elapsed if done and elapsed > 0 else None
        eta = (self._total - done) / rate if rate and final else None
        self.progress(Progress(self.store.slug, "embed", done, self._total, message, rate, eta,
                               self.report.vectors_upserted, total_final=final,
                               files_read=self._reader.prepared, files_total=self._reader.total))

    def _prepare(self, file: FoundFile, doc: dict | None, full: bool) -> _Pending | None:
        """Read, vet and chunk one file; None when it is skipped or failed,
        _UNCHANGED when only its stat changed."""
        read = read_found(file)  # core/scan.py: the same check --plan makes
        if isinstance(read, Unusable):
            (self.report.failed if read.failed else self.report.skipped).append((file.path, read.reason))
            return None
        data, text = read
        digest = content_hash(data)
        if doc is not None and doc["content_hash"] == digest and not full:
            # Touched, not changed: remember the new stat so the fast path works next time.
            self.mirror.update_stat(self.ns.id, file.path, file.size, file.mtime_ns)
            self.report.unchanged += 1
            return _UNCHANGED
        chunks = chunk_text(
            text, file.path, self.max_tokens, self.overlap,
            self.embedder.tokenizer_counts, getattr(self.embedder, "token_spans", None),
        )
        return _Pending(file, digest, chunks, doc is None)

    def _write(self, batch: list[_Pending], writer: WriteBehind) -> None:
        """Embed one batch here, on the caller's thread (so progress reports come from it),
        and hand its vectors to the writer."""
        if not self._embedding:
            self._start_embed()
        records_meta = []
        texts = []
        for item in batch:
            for chunk in item.chunks:
                vid = vector_id(item.file.path, item.digest, chunk.index)
                records_meta.append((vid, item, chunk))
                texts.append(chunk.embedding_text())
        embedded = 0

        def on_batch(n: int) -> None:
            nonlocal embedded
            embedded += n
            self._report_embed(batch[0].file.path if len(batch) == 1 else f"{len(batch)} files", embedded)

        vectors = self.embedder.embed_documents(texts, on_batch=on_batch)
        self.report.chunks_embedded += len(texts)
        writer.submit(self._store, batch, records_meta, vectors)

    def _store(self, batch: list[_Pending], records_meta: list, vectors: np.ndarray) -> None:
        """Write one embedded batch (on the writer thread): steps 1-4 of the protocol above."""
        ids = [vid for vid, _, _ in records_meta]
        self.mirror.set_pending(self.ns.id, ids)  # 1. journal
        records = [
            VectorRecord(vid, np.asarray(vec, dtype=np.float32), self._metadata(item, chunk))
            for (vid, item, chunk), vec in zip(records_meta, vectors)
        ]
        self.report.vectors_upserted += self.index.upsert(self.name, records)  # 2. upsert
        docs = [
            {"path": item.file.path, "content_hash": item.digest, "size": item.file.size,
             "mtime_ns": item.file.mtime_ns, "chunk_count": len(item.chunks)}
            for item in batch
        ]
        entries = {
            item.file.path: [
                {"vector_id": vector_id(item.file.path, item.digest, c.index), "chunk_index": c.index,
                 "start_line": c.start_line, "end_line": c.end_line}
                for c in item.chunks
            ]
            for item in batch
        }
        stale = self.mirror.replace_documents(self.ns, docs, entries)  # 3. swap records
        if stale:
            self.index.delete(self.name, stale)  # 4. delete what the documents no longer hold
            self.report.vectors_deleted += len(stale)
        self.mirror.clear_pending(self.ns.id, ids + stale)
        for item in batch:
            if item.is_new:
                self.report.added += 1
            else:
                self.report.changed += 1

    def _metadata(self, item: _Pending, chunk: Chunk) -> dict:
        return {
            "path": item.file.path,
            "store": self.store.slug,
            "chunk_index": chunk.index,
            "start_line": chunk.start_line,
            "end_line": chunk.end_line,
            "headings": " > ".join(chunk.headings),
            "content_hash": item.digest,
            "text": chunk.text,
            "symbols": list(chunk.symbols),  # core/lexical.py indexes them; exact identifiers rank first
        }

    def _remove(self, paths: Iterable[str]) -> None:
        paths = sorted(set(paths))
        self.progress(Progress(self.store.slug, "delete", 0, len(paths), "removing deleted files"))
        ids = self.mirror.remove_documents(self.ns.id, paths)
        if ids:
            self.index.delete(self.name, ids)
        self.mirror.clear_pending(self.ns.id, ids)
        self.report.removed += len(paths)
        self.report.vectors_deleted += len(ids)

    def _summary(self) -> str:
        return ingest_summary(self.report.counts())


def ingest_store(
    mirror: Mirror,
    index: VectorIndex,
    embedder: Embedder,
    namespace: NamespaceRecord,
    store: StoreConfig,
    found: Sequence[FoundFile | Skipped],
    *,
    full: bool = False,
    only_paths: set[str] | None = None,
    progress: ProgressCallback | None = None,
    cancelled: Callable[[], bool] | None = None,
    check_index: bool = False,
) -> StoreReport:
    """check_index: first find documents whose vectors the index lacks (paths_missing_vectors)."""
    from core.usage import metering

    run_id = mirror.start_ingest_run(namespace)
    job = StoreIngest(mirror, index, embedder, namespace, store, progress, cancelled)
    with metering() as usage:  # what the services billed this run, as they reported it
        try:
            report = job.run(found, full=full, only_paths=only_paths, check_index=check_index)
        except BaseException as exc:
            mirror.finish_ingest_run(run_id, "failed", job.report.counts(), str(exc)[:500], usage.to_dict())
            raise
    status = "cancelled" if cancelled and cancelled() else "ok"
    mirror.finish_ingest_run(run_id, status, report.counts(), None, usage.to_dict())
    return report
