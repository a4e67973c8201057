"""The one API every face uses: the CLI, the TUI, the MCP server and the watcher.

`Lightfast` ties a lightfast.yml to its index profile, the mirror, the
backend, the embedder and the reranker. Everything heavy is built on first
use, so listing namespaces never loads a model.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Literal

from core.config import LightfastConfig, find_config, load_config
from core.embeddings.base import Embedder
from core.errors import DimensionMismatchError, NotFoundError, ScopeError
from core.guards import check_ingest
from core.ingest import ProgressCallback, StoreReport, ingest_store
from core.locks import LockHolder, file_lock
from core.mirror import Mirror
from core.namespaces import check_model, ensure_namespace, index_spec
from core.paths import data_dir, locks_dir, mirror_path
from core.repo_paths import relative_in_root, resolve_in_root
from core.rerank import Reranker
from core.scan import FoundFile, Skipped, walk_repo
from core.search import SearchMode, SearchResult, search_namespaces, validate_query
from core.storage import storage_guard
from core.vectors.base import VectorBackend, VectorIndex

Scope = Literal["store", "workspace", "organization"]


@dataclass
class IngestReport:
    stores: list[StoreReport] = field(default_factory=list)
    seconds: float = 0.0

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for report in self.stores:
            for key, value in report.counts().items():
                out[key] = out.get(key, 0) + value
        return out


class Lightfast:
    def __init__(
        self,
        config: LightfastConfig,
        home: Path | None = None,
        *,
        backend: VectorBackend | None = None,
        embedder: Embedder | None = None,
        reranker: Reranker | None = None,
    ):
        self.config = config
        self.home = Path(home) if home else data_dir()
        self.profile = config.profile()
        self.environment = config.environment
        self._backend = backend
        self._embedder = embedder
        self._reranker = reranker
        self._mirror: Mirror | None = None
        self._index: VectorIndex | None = None
        self._lock = threading.RLock()

    @classmethod
    def open(cls, config_path: Path | None = None, home: Path | None = None) -> "Lightfast":
        """From an explicit lightfast.yml, or the one found from the working directory upwards."""
        path = Path(config_path) if config_path else find_config()
        return cls(load_config(path), home)

    # -- lazily built parts ------------------------------------------------------
    @property
    def mirror(self) -> Mirror:
        with self._lock:
            if self._mirror is None:
                with storage_guard(self.home):
                    self._mirror = Mirror(mirror_path(self.home))
            return self._mirror

    @property
    def backend(self) -> VectorBackend:
        with self._lock:
            if self._backend is None:
                from core.factory import make_backend

                self._backend = make_backend(self.profile, self.home)
            return self._backend

    @property
    def index(self) -> VectorIndex:
        with self._lock:
            if self._index is None:
                self._index = self.backend.ensure_index(index_spec(self.profile, self.environment))
            return self._index

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                from core.factory import make_embedder

                self._embedder = make_embedder(self.profile)
            return self._embedder

    @property
    def reranker(self) -> Reranker:
        with self._lock:
            if self._reranker is None:
                from core.factory import make_reranker

                self._reranker = make_reranker(self.profile)
            return self._reranker

    @property
    def root(self) -> Path:
        return self.config.root_path

    # -- namespaces ----------------------------------------------------------------
    def ensure_namespace(self, store_slug: str) -> dict:
        store = self.config.store(store_slug)
        return ensure_namespace(
            self.mirror, self.backend, self.profile, self.environment,
            self.config.organization, self.config.workspace, store,
        )

    def namespace_records(self, scope: Scope = "workspace", stores: Iterable[str] | None = None) -> list[dict]:
        """Records this configuration may see: the design's access check lives here.

        store: the given (or all configured) stores of this workspace;
        workspace: every namespace of this workspace; organization: of this org.
        """
        c = self.config
        if scope == "store":
            slugs = list(stores) if stores else [s.slug for s in c.stores]
            for slug in slugs:
                c.store(slug)  # unknown slug -> ConfigError listing the known ones
            return self.mirror.namespaces(self.environment, c.organization, c.workspace, slugs)
        if stores:
            raise ScopeError("stores can only be named with scope 'store'")
        if scope == "workspace":
            return self.mirror.namespaces(self.environment, c.organization, c.workspace)
        if scope == "organization":
            return self.mirror.namespaces(self.environment, c.organization)
        raise ScopeError(f"unknown scope '{scope}': use store, workspace or organization")

    def namespaces(self, with_backend: bool = True) -> list[dict]:
        """Mirror records of this environment and organization, with counts.

        with_backend adds the index's own vector count and flags namespaces
        that exist on only one side.
        """
        records = self.namespace_records("organization")
        remote: dict[str, int] = {}
        if with_backend and self.backend.index_exists(self.profile.name):
            prefix = "org_"
            remote = {s.namespace: s.vector_count for s in self.index.list_namespaces(prefix)}
        out = []
        for r in records:
            counts = self.mirror.counts(r["id"])
            last = self.mirror.last_ingest(r["id"])
            out.append({
                **r,
                "documents": counts["documents"],
                "vectors": counts["vectors"],
                "index_vectors": remote.get(r["namespace_name"]) if with_backend else None,
                "last_ingest": last["finished_at"] if last else None,
                "last_ingest_status": last["status"] if last else None,
                "only_in": None,
            })
        if with_backend:
            known = {r["namespace_name"] for r in records}
            for name, count in sorted(remote.items()):
                if name not in known and name.startswith(self._org_prefix()):
                    out.append({"namespace_name": name, "environment": self.environment,
                                "index_name": self.profile.name, "index_vectors": count,
                                "vectors": None, "documents": None, "only_in": "index"})
            for row in out:
                if row.get("only_in") is None and row["namespace_name"] not in remote and row["vectors"]:
                    row["only_in"] = "mirror"
        return out

    def browse_namespaces(self, with_backend: bool = True) -> list[dict]:
        """Every record of this machine's mirror, all environments and organizations, with counts.

        For a person browsing their own data dir (the TUI). Only this
        environment's index is asked for its own vector counts: other
        environments may need keys this session does not have.
        """
        rows = self.mirror.namespace_summaries()
        remote: dict[str, int] = {}
        if with_backend and self.backend.index_exists(self.profile.name):
            remote = {s.namespace: s.vector_count for s in self.index.list_namespaces("org_")}
        for row in rows:
            here = row["environment"] == self.environment
            row["index_vectors"] = remote.get(row["namespace_name"]) if here and with_backend else None
            row["only_in"] = "mirror" if here and with_backend and row["vectors"] and \
                row["namespace_name"] not in remote else None
        if with_backend:
            known = {r["namespace_name"] for r in rows if r["environment"] == self.environment}
            rows += [{"id": None, "namespace_name": name, "environment": self.environment,
                      "organization_id": None, "workspace_id": None, "store_slug": None,
                      "index_name": self.profile.name, "index_vectors": count, "vectors": None,
                      "documents": None, "only_in": "index"}
                     for name, count in sorted(remote.items()) if name not in known]
        return rows

    def delete_namespace_by_id(self, record_id: str, remove_record: bool = False) -> int:
        """Delete exactly this record's vectors (and optionally the record); returns vectors deleted.

        Refuses a record of another environment: its index is not the one this
        configuration opens.
        """
        record = self.mirror.namespace_by_id(record_id)
        if record is None:
            raise NotFoundError(f"no namespace record with id '{record_id}' (deleted meanwhile?)")
        if record["environment"] != self.environment:
            raise ScopeError(
                f"{record['namespace_name']} lives in environment '{record['environment']}', this "
                f"configuration uses '{self.environment}': set `environment: {record['environment']}` "
                "in lightfast.yml to delete it"
            )
        return self._delete_record(record, remove_record)

    def _org_prefix(self) -> str:
        from core.naming import sanitize_part

        return f"org_{sanitize_part(self.config.organization, 'organization')}:"

    def delete_namespace(
        self, store_slug: str, remove_record: bool = False, *, lock_wait: float | None = None,
        on_lock_wait: Callable[[LockHolder], None] | None = None,
    ) -> int:
        """Delete a store's vectors (and optionally its record); returns vectors deleted."""
        self.config.store(store_slug)
        record = self.mirror.get_namespace(
            self.environment, self.config.organization, self.config.workspace, store_slug
        )
        if record is None:
            raise NotFoundError(f"store '{store_slug}' has no namespace in environment '{self.environment}'")
        return self._delete_record(record, remove_record, lock_wait, on_lock_wait)

    def _delete_record(self, record: dict, remove_record: bool, lock_wait: float | None = None,
                       on_lock_wait: Callable[[LockHolder], None] | None = None) -> int:
        with storage_guard(self.home), self._writer_lock(lock_wait, on_lock_wait):
            count = self.mirror.counts(record["id"])["vectors"]
            self.index.delete_namespace(record["namespace_name"])
            if remove_record:
                self.mirror.delete_namespace_record(record["id"])
            else:
                with self.mirror.write() as conn:
                    conn.execute("DELETE FROM documents WHERE namespace_id=?", (record["id"],))
                    conn.execute("DELETE FROM pending_vectors WHERE namespace_id=?", (record["id"],))
        return count

    # -- the legacy layout during a migration -------------------------------------------
    def _legacy_route(self):
        """The design's read flag off: read each store's own legacy index."""
        from core.migrate import LEGACY_NAMESPACE

        legacy = {
            (r["workspace_id"], r["slug"]): r["index_name"]
            for r in self.mirror.rows("SELECT * FROM stores WHERE organization_id=?", (self.config.organization,))
        }

        def route(ns: dict):
            name = legacy.get((ns["workspace_id"], ns["store_slug"]))
            if name is None:  # a store that never had a legacy index
                return self.index, ns["namespace_name"]
            return self.backend.index(name), LEGACY_NAMESPACE

        return route

    def _write_index(self) -> VectorIndex:
        """The shared index, written together with legacy indexes while a migration is under way."""
        rows = self.mirror.rows(
            "SELECT n.namespace_name, s.index_name FROM migration_stores m "
            "JOIN stores s ON s.id = m.store_id JOIN namespaces n ON n.id = m.namespace_id "
            "WHERE m.status != 'cutover'"
        )
        if not rows:
            return self.index
        from core.migrate import DualWriteIndex

        return DualWriteIndex(self.index, {r["namespace_name"]: self.backend.index(r["index_name"]) for r in rows})

    # -- ingest ----------------------------------------------------------------------
    def _writer_lock(self, wait: float | None = None, on_wait: Callable[[LockHolder], None] | None = None):
        """The data dir's one writer lock. wait: None blocks, 0 fails at once, N gives up after N s;
        on_wait(holder) is called once if this process has to wait."""
        return file_lock(locks_dir(self.home) / "ingest.lock", wait=wait, what=f"data dir {self.home}",
                         on_wait=on_wait)

    def resolve_paths(self, paths: Iterable[str | Path]) -> list[Path] | None:
        """User-given paths resolved inside the repo root (None: the whole repository);
        PathOutsideRepoError for one outside it, empty, or with a NUL."""
        return resolve_in_root(self.root, paths)

    def watcher(self, **options):
        """A core.watch.Watcher over this service (not started); options as Watcher takes them."""
        from core.watch import Watcher

        return Watcher(self, **options)

    def dashboard(self) -> dict:
        """Every figure of the stats dashboard (core.stats.dashboard). Blocking: call from a thread."""
        from core.search import flush_query_log
        from core.stats import dashboard

        flush_query_log()  # this process's searches are in the query log the figures read
        return dashboard(self)

    def scan(self) -> list[FoundFile | Skipped]:
        return list(walk_repo(self.root, self.config.limits.max_file_bytes, extra_ignored=(self.home,)))

    def ingest(
        self,
        stores: Iterable[str] | None = None,
        *,
        full: bool = False,
        paths: Iterable[str | Path] | None = None,
        progress: ProgressCallback | None = None,
        cancelled: Callable[[], bool] | None = None,
        lock_wait: float | None = None,
        on_lock_wait: Callable[[LockHolder], None] | None = None,
        force: bool | None = None,
    ) -> IngestReport:
        """Bring the namespaces of the given (default: all) stores in line with the repo.

        paths (absolute or relative to the repo root) limit the run to those files and
        folders; one outside the root is refused (PathOutsideRepoError) before anything runs.
        A run that would remove most of a store is refused (RemovalRefusedError) unless
        force (None: the LIGHTFAST_FORCE_REMOVE environment variable decides).
        """
        slugs = list(stores) if stores else [s.slug for s in self.config.stores]
        store_configs = [self.config.store(s) for s in slugs]
        only = relative_in_root(self.root, paths) if paths is not None else None
        started = time.perf_counter()
        report = IngestReport()
        with storage_guard(self.home), self._writer_lock(lock_wait, on_lock_wait):
            found = self.scan()
            self.mirror.mark_interrupted_runs()  # we hold the lock: whatever says 'running' died
            check_ingest(self.config, self.mirror, self.environment, store_configs, found, only,
                         force)  # core/guards.py; force None: LIGHTFAST_FORCE_REMOVE decides
            index = self._write_index()
            for store in store_configs:
                namespace = self.ensure_namespace(store.slug)
                report.stores.append(
                    ingest_store(
                        self.mirror, index, self.embedder, namespace, store, found,
                        full=full, only_paths=only, progress=progress, cancelled=cancelled,
                    )
                )
                if cancelled and cancelled():
                    break
        report.seconds = time.perf_counter() - started
        return report

    def last_ingest_runs(self) -> list[dict]:
        """The last recorded ingest run of each of this configuration's stores (from the mirror,
        whichever process ran it): store_slug, status, started_at, finished_at, counts, error."""
        runs = []
        for record in self.namespace_records("store"):
            last = self.mirror.last_ingest(record["id"])
            if last:
                runs.append(last)
        return runs

    def indexed_paths(self, paths: Iterable[str], stores: Iterable[str] | None = None) -> set[str]:
        """Those of the given repo-relative paths that the stores' namespaces hold a document at
        (or, for a folder, below); lets a face tell a deleted file from a path that never existed."""
        wanted = set(paths)
        held: set[str] = set()
        for record in self.namespace_records("store", stores):
            for doc in self.mirror.documents(record["id"]):
                held.update(p for p in wanted if doc == p or doc.startswith(p.rstrip("/") + "/"))
        return held

    # -- search ----------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        stores: Iterable[str] | None = None,
        scope: Scope = "store",
        top_k: int = 10,
        path_glob: str | None = None,
        mode: SearchMode = "hybrid",
    ) -> SearchResult:
        """mode: "hybrid" (vectors and words fused, names' definitions first), "dense" or "lexical"."""
        validate_query(query, top_k, mode)
        records = self.namespace_records(scope, stores)
        usable, failed = [], {}
        for record in records:
            try:
                check_model(record, self.profile)
                usable.append(record)
            except Exception as exc:
                failed[record["namespace_name"]] = str(exc)
        if not records:
            raise NotFoundError(
                "nothing to search: no store of this workspace has been ingested in environment "
                f"'{self.environment}'; run `lightfast ingest` first"
            )
        if not usable:
            raise DimensionMismatchError(next(iter(failed.values())))
        result = search_namespaces(
            mirror=self.mirror, index=self.index, embedder=self.embedder, reranker=self.reranker,
            namespaces=usable, query=query, top_k=top_k, path_glob=path_glob,
            route=None if self.config.use_shared_index else self._legacy_route(), mode=mode,
        )
        result.failed.update(failed)
        return result

    def read_chunk(self, vector_id: str, namespace: str | None = None, radius: int = 1) -> dict:
        """A hit's chunk with up to radius neighbours either side, read from the index."""
        records = self.namespace_records("organization")
        if namespace:
            records = [r for r in records if r["namespace_name"] == namespace]
            if not records:
                raise NotFoundError(f"no chunk with id '{vector_id}': namespace '{namespace}' is not one of "
                                    f"this organization's namespaces in environment '{self.environment}'")
        for record in records:
            entries = self.mirror.chunk_neighbours(record["id"], vector_id, radius)
            if not entries:
                continue
            fetched = self.index.fetch(record["namespace_name"], [e["vector_id"] for e in entries])
            chunks = []
            for e in entries:
                rec = fetched.get(e["vector_id"])
                chunks.append({
                    "vector_id": e["vector_id"], "chunk_index": e["chunk_index"],
                    "start_line": e["start_line"], "end_line": e["end_line"],
                    "text": rec.metadata.get("text", "") if rec else "",
                })
            return {"namespace": record["namespace_name"], "store": record["store_slug"],
                    "path": entries[0]["path"], "chunks": chunks}
        where = f"namespace '{namespace}'" if namespace else "this organization's namespaces"
        raise NotFoundError(f"no chunk with id '{vector_id}' in {where}")
