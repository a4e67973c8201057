"""`lightfast doctor`: does the index hold what the mirror says it holds? And the repairs.

The check compares, per namespace record of this environment's index, the vector ids
the mirror lists with what the index holds: by id and with every vector read (which
also finds damaged rows) on the local index, by count on Pinecone (whose ids cost reads).
A configured store the index holds without mirror documents (a rebuilt mirror) is a
problem too. Damage found on the way (IndexDamagedError, MirrorDamagedError) is reported
with its file, never raised.

Repairs, under the data dir's writer lock, never deleting what was damaged:
- a damaged mirror.sqlite is moved aside (`mirror.sqlite.damaged-<time>`) and its
  records and documents are rebuilt from the vectors' own metadata;
- a damaged index.json is moved aside and written again from the index profile;
- a damaged namespace is copied aside (hard links, into `<index>/.damaged/`), emptied and
  re-ingested; missing vectors are re-ingested (a plain ingest finds them);
- stale vectors (in the index, in no document) are deleted.
Namespaces of other repos are reported, not repaired: their stores are not in this
configuration; `lightfast doctor --repair` in their repo repairs them.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from core.errors import IndexDamagedError, MirrorDamagedError
from core.locks import LockHolder
from core.mirror import Mirror, mirror_damaged, move_aside
from core.naming import namespace_name
from core.namespaces import index_spec
from core.paths import mirror_path
from core.records import NamespaceRecord
from core.vectors.base import VectorIndex

if TYPE_CHECKING:
    from core.service import Lightfast

HEALTHY = "healthy"
VECTORS_MISSING = "vectors missing"
NAMESPACE_MISSING = "index namespace missing"
DAMAGED = "damaged"
NOT_IN_MIRROR = "not in mirror"
STALE = "stale vectors"
LEXICAL = "word index out of step"

_BATCH = 500
_DAMAGED_FILE = re.compile(r"^(.*?(?:meta\.sqlite|\.f32|index\.json|mirror\.sqlite)): ")


@dataclass(frozen=True)
class NamespaceHealth:
    """One namespace: what the mirror expects against what the index holds."""

    namespace: str
    #: This configuration's store slug; None for a record of another repo (reported, not repaired).
    store: str | None
    state: str
    mirror_vectors: int
    index_vectors: int | None = None
    #: Vectors the mirror lists that the index lacks.
    missing: int = 0
    #: Vectors the index holds that no document lists (journalled ones of a killed run not counted).
    stale: int = 0
    #: The damaged file, when state is DAMAGED.
    file: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.state == HEALTHY

    def describe(self) -> str:
        if self.state == HEALTHY:
            return f"healthy: {self.mirror_vectors:,} vectors"
        if self.state == VECTORS_MISSING:
            return f"vectors missing: {self.missing:,} of {self.mirror_vectors:,}"
        if self.state == NAMESPACE_MISSING:
            return f"index namespace missing: {self.mirror_vectors:,} vectors expected"
        if self.state == NOT_IN_MIRROR:
            return f"not in mirror: the index holds {self.index_vectors:,} vectors, the mirror no documents"
        if self.state == STALE:
            return f"stale vectors: {self.stale:,} in the index that no document holds"
        if self.state == LEXICAL:
            return f"word index out of step with the vectors: {self.error}"
        return f"damaged: {self.error}"

    def remedy(self) -> str:
        if self.state == HEALTHY:
            return ""
        if self.store is None:
            return "run `lightfast doctor --repair` in the repo of this store"
        if self.state in (VECTORS_MISSING, NAMESPACE_MISSING):
            return f"run `lightfast ingest --store {self.store}` (or `lightfast doctor --repair`)"
        return "run `lightfast doctor --repair`"


@dataclass
class DoctorReport:
    data_dir: str
    mirror: str
    index: str
    #: True: ids compared and every vector read (local index); False: counts only.
    by_id: bool
    mirror_error: str | None = None
    index_error: str | None = None
    namespaces: list[NamespaceHealth] = field(default_factory=list)
    #: What --repair did, one sentence each.
    repairs: list[str] = field(default_factory=list)

    @property
    def problems(self) -> int:
        return (self.mirror_error is not None) + (self.index_error is not None) + \
            sum(not ns.ok for ns in self.namespaces)

    @property
    def healthy(self) -> bool:
        return self.problems == 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "problems": self.problems, "healthy": self.healthy,
                "namespaces": [{**asdict(ns), "ok": ns.ok} for ns in self.namespaces]}


# -- the check -------------------------------------------------------------------------------------

def check(service: "Lightfast", *, by_id: bool = True, own_only: bool = False) -> DoctorReport:
    """Compare mirror and index. by_id: ids and vectors (local index only); own_only: this
    configuration's stores only (what `lightfast status` asks, counts only, cheaply)."""
    local = service.backend.kind == "local"
    report = DoctorReport(str(service.home), str(mirror_path(service.home)), service.profile.name,
                          by_id=by_id and local)
    try:
        mirror = service.mirror
        if by_id:
            problem = mirror.integrity_problem()  # reads the whole file: not for status
            if problem:
                raise mirror_damaged(mirror.path, problem)
        records = [r for r in mirror.namespaces(environment=service.environment)
                   if r.index_name == service.profile.name]
    except MirrorDamagedError as exc:
        report.mirror_error = str(exc)
        return report
    index = None
    if service.backend.index_exists(service.profile.name):
        try:
            index = service.index
        except IndexDamagedError as exc:
            report.index_error = str(exc)
            return report
    c = service.config
    own = {s.slug for s in c.stores}
    seen = set()
    for record in records:
        mine = (record.organization_id, record.workspace_id) == (c.organization, c.workspace) \
            and record.store_slug in own
        if own_only and not mine:
            continue
        seen.add(record.store_slug if mine else None)
        report.namespaces.append(_check_record(mirror, index, record, record.store_slug if mine else None,
                                               report.by_id, words=by_id))
    for store in c.stores:  # held by the index, unknown to the mirror (a rebuilt mirror)
        if store.slug in seen or index is None:
            continue
        name = namespace_name(c.organization, c.workspace, store.slug)
        try:
            count = index.namespace_stats(name).vector_count
        except IndexDamagedError as exc:
            report.namespaces.append(_damaged(name, store.slug, 0, exc))
            continue
        if count:
            report.namespaces.append(NamespaceHealth(name, store.slug, NOT_IN_MIRROR, 0, count))
    return report


def _damaged(name: str, store: str | None, expected: int, exc: IndexDamagedError) -> NamespaceHealth:
    found = _DAMAGED_FILE.match(str(exc))
    return NamespaceHealth(name, store, DAMAGED, expected, file=found.group(1) if found else None, error=str(exc))


def _check_record(mirror: Mirror, index: VectorIndex | None, record: NamespaceRecord, store: str | None,
                  by_id: bool, words: bool) -> NamespaceHealth:
    """words: also compare the word index (local FTS rows, Pinecone's sparse twins) with the
    vectors by id; doctor asks it on every backend, status never (it lists every id)."""
    name = record.namespace_name
    ids = mirror.vector_ids(record.id) if by_id else set()
    expected = len(ids) if by_id else mirror.counts(record.id).vectors
    journalled = sum(len(part) for part in mirror.unreferenced_pending(record.id))
    if index is None:
        held, present = 0, 0
    else:
        try:
            held = index.namespace_stats(name).vector_count
            present = len(_present(index, name, ids)) if by_id else min(held, expected)
        except IndexDamagedError as exc:
            return _damaged(name, store, expected, exc)
    stale = max(held - present - journalled, 0)
    if expected and held == 0:
        return NamespaceHealth(name, store, NAMESPACE_MISSING, expected, held, missing=expected)
    if present < expected:
        return NamespaceHealth(name, store, VECTORS_MISSING, expected, held, missing=expected - present,
                               stale=stale)
    if expected == 0 and held and store is not None:
        return NamespaceHealth(name, store, NOT_IN_MIRROR, 0, held)
    if stale:
        return NamespaceHealth(name, store, STALE, expected, held, stale=stale)
    if words and index is not None and hasattr(index, "lexical_out_of_step"):
        problem = index.lexical_out_of_step(name)  # the hybrid search's word rows or sparse twins
        if problem:
            return NamespaceHealth(name, store, LEXICAL, expected, held, error=problem)
    return NamespaceHealth(name, store, HEALTHY, expected, held)


def _present(index: VectorIndex, name: str, ids: set[str]) -> set[str]:
    """Those of ids the index holds; fetching reads each vector, so a damaged row raises."""
    wanted = sorted(ids)
    found: set[str] = set()
    for start in range(0, len(wanted), _BATCH):
        found.update(index.fetch(name, wanted[start : start + _BATCH]))
    return found


def _all_ids(index: VectorIndex, name: str) -> list[str]:
    out, token = [], None
    while True:
        ids, token = index.list_ids(name, limit=_BATCH, pagination_token=token)
        out.extend(ids)
        if token is None:
            return out


# -- repairs ---------------------------------------------------------------------------------------

def repair(service: "Lightfast", on_lock_wait: Callable[[LockHolder], None] | None = None) -> DoctorReport:
    """Repair what check finds in this configuration's stores; returns the check after the repairs.
    on_lock_wait(holder) is called once if another process holds the writer lock."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    notes: list[str] = []
    reingest: list[str] = []
    with service._writer_lock(on_wait=on_lock_wait):  # the data dir's one writer: no ingest meanwhile
        found = check(service)
        if found.mirror_error:
            notes += _rebuild_mirror(service, stamp)
            found = check(service)
        if found.index_error:
            notes += _rebuild_index_json(service, stamp)
            found = check(service)
        for ns in found.namespaces:
            if ns.ok or ns.store is None:
                continue
            if ns.state == DAMAGED:
                notes.append(_move_namespace_aside(service, ns, stamp))
                reingest.append(ns.store)
            elif ns.state in (VECTORS_MISSING, NAMESPACE_MISSING):
                reingest.append(ns.store)  # ingest finds the documents whose vectors are missing
            elif ns.state == NOT_IN_MIRROR:
                notes.append(_restore_namespace(service, ns.store))
            elif ns.state == STALE:
                notes.append(_delete_stale(service, ns))
            elif ns.state == LEXICAL:
                service.index.ensure_lexical(ns.namespace, rebuild=True)  # from the vectors' metadata
                notes.append(f"{ns.namespace}: rebuilt its word index from the vectors' metadata")
    if reingest:  # outside the lock: ingest takes it itself
        report = service.ingest(reingest, on_lock_wait=on_lock_wait)
        for r in report.stores:
            notes.append(f"{r.namespace}: ingested again: {r.added + r.changed:,} files embedded, "
                         f"{r.unchanged:,} unchanged")
    after = check(service)
    after.repairs = notes
    return after


def _rebuild_mirror(service: "Lightfast", stamp: str) -> list[str]:
    """Move the damaged mirror aside; the check after it finds this configuration's stores
    'not in mirror', and the repair restores them from the index."""
    service.reopen()
    moved = move_aside(mirror_path(service.home), stamp)
    return [f"moved the damaged mirror to {moved}; its query and ingest history, and records of "
            "other repos (run `lightfast doctor --repair` there), stay in that file"]


def _restore_namespace(service: "Lightfast", store: str) -> str:
    """A namespace record and its documents from the vectors' own metadata (path, content
    hash, chunk index, lines). Sizes are unknown, so the next ingest reads each file once:
    an unchanged one keeps its vectors."""
    record = service.ensure_namespace(store)
    docs, vectors, leftovers = restore_documents(service.mirror, service.index, record)
    return (f"{record.namespace_name}: rebuilt {docs:,} documents ({vectors:,} vectors) from the index's "
            f"metadata" + (f"; {leftovers:,} vectors of older versions will be deleted by the next ingest"
                           if leftovers else ""))


def restore_documents(mirror: Mirror, index: VectorIndex, record: NamespaceRecord) -> tuple[int, int, int]:
    """Fill a record's documents from its vectors' metadata; returns (documents, vectors, leftovers).

    Where a path has vectors of several contents (a run killed between upsert and delete),
    the content with the most chunks wins; the others are journalled for the next ingest
    to delete. Vectors without our metadata are left alone (the check counts them stale).
    """
    name = record.namespace_name
    by_path: dict[str, dict[str, list[dict]]] = {}
    ids = _all_ids(index, name)
    for start in range(0, len(ids), _BATCH):
        for vid, rec in index.fetch(name, ids[start : start + _BATCH]).items():
            m = rec.metadata
            try:
                entry = {"vector_id": vid, "chunk_index": int(m["chunk_index"]),
                         "start_line": int(m["start_line"]), "end_line": int(m["end_line"])}
                path, digest = str(m["path"]), str(m["content_hash"])
            except (KeyError, TypeError, ValueError):
                continue
            by_path.setdefault(path, {}).setdefault(digest, []).append(entry)
    docs, entries, leftovers = [], {}, []
    for path, versions in sorted(by_path.items()):
        digest = max(versions, key=lambda d: (len(versions[d]), d))
        chosen = sorted(versions.pop(digest), key=lambda e: e["chunk_index"])
        leftovers += [e["vector_id"] for rest in versions.values() for e in rest]
        docs.append({"path": path, "content_hash": digest, "size": -1, "mtime_ns": -1,
                     "chunk_count": len(chosen)})
        entries[path] = chosen
    for start in range(0, len(docs), _BATCH):
        part = docs[start : start + _BATCH]
        mirror.replace_documents(record, part, {d["path"]: entries[d["path"]] for d in part})
    if leftovers:
        mirror.set_pending(record.id, leftovers)
    return len(docs), sum(len(e) for e in entries.values()), len(leftovers)


def _rebuild_index_json(service: "Lightfast", stamp: str) -> list[str]:
    folder = Path(getattr(service.backend, "root", service.home / "indexes")) / service.profile.name
    bad = folder / "index.json"
    moved = bad.with_name(f"index.json.damaged-{stamp}")
    os.replace(bad, moved)
    service.backend.create_index(index_spec(service.profile, service.environment))
    service.reopen()
    return [f"moved the damaged {bad} to {moved.name} and wrote it again from index profile "
            f"'{service.profile.name}'"]


def _move_namespace_aside(service: "Lightfast", ns: NamespaceHealth, stamp: str) -> str:
    """Keep the damaged files (hard links, no copy of the data), then empty the namespace and its documents."""
    index = service.index
    kept = ""
    current = index.namespace_folder(ns.namespace) if hasattr(index, "namespace_folder") else None
    if current is not None:
        slot = current.parent
        target = Path(index.folder) / ".damaged" / f"{slot.name}.damaged-{stamp}"
        shutil.copytree(slot, target, copy_function=_link_or_copy)
        kept = f"moved the damaged files to {target}; "
    index.delete_namespace(ns.namespace)  # needs only the namespace's folder, not its damaged files
    record = service.mirror.get_namespace(service.environment, service.config.organization,
                                          service.config.workspace, ns.store)
    if record is not None:
        service.mirror.clear_documents(record.id)
    return f"{ns.namespace}: {kept}emptied it for a fresh ingest"


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _delete_stale(service: "Lightfast", ns: NamespaceHealth) -> str:
    record = service.mirror.get_namespace(service.environment, service.config.organization,
                                          service.config.workspace, ns.store)
    keep: set[str] = set()
    if record is not None:
        keep = service.mirror.vector_ids(record.id)
        for journalled in service.mirror.unreferenced_pending(record.id):
            keep.update(journalled)  # a killed run's: the next ingest's recovery settles them
    stale = [vid for vid in _all_ids(service.index, ns.namespace) if vid not in keep]
    service.index.delete(ns.namespace, stale)
    return f"{ns.namespace}: deleted {len(stale):,} stale vectors that no document holds"
