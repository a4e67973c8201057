"""The one API every face uses: the CLI, the TUI, the MCP server and the watcher.

`Lightfast` ties a lightfast.yml to its index profile, the mirror, the
backend, the embedder and the reranker. Everything heavy is built on first
use, so listing namespaces never loads a model.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Literal

from core.config import LightfastConfig, find_config, load_config
from core.embeddings.base import Embedder
from core.errors import DimensionMismatchError, InvalidArgumentError, LightfastError, NoNamespaceError, NotFoundError, ScopeError
from core.guards import check_ingest
from core.ingest import ProgressCallback, StoreReport, ingest_store, ingest_summary
from core.locks import LockHolder, file_lock
from core.mirror import Mirror
from core.namespaces import check_model, ensure_namespace, index_spec
from core.paths import data_dir, locks_dir, mirror_path
from core.profiles import index_chain
from core.records import ConnectedRepository, IngestRun, NamespaceRecord, NamespaceStatus
from core.repo_paths import relative_in_root, resolve_in_root
from core.rerank import Reranker
from core.scan import FoundFile, Skipped, walk_repo
# `Hit as Hit`: re-exported, a result type the faces read (SearchResult.hits)
from core.search import Hit as Hit, SearchMode, SearchResult, search_namespaces, validate_query
from core.storage import storage_guard
from core.tokens import Grant, TokenStore, current_grant
from core.vectors.base import VectorBackend, VectorIndex

if TYPE_CHECKING:
    from core.cost import Prices, Workload
    from core.doctor import DoctorReport
    from core.git_changes import GitChanges
    from core.isolation import IsolationReport
    from core.migrate import Drift, Migration
    from core.plan import IngestPlan
    from core.stats import QueryResult
    from core.tokens import TokenEntry

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

    def summary(self) -> str:
        return ingest_summary(self.totals())


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
        self._overflow: dict[str, VectorIndex] = {}  # profile name -> an overflow index, opened on use
        self._lock = threading.RLock()

    @classmethod
    def open(cls, config_path: Path | None = None, home: Path | None = None) -> "Lightfast":
        """From an explicit lightfast.yml, or the one found from the working directory upwards."""
        path = Path(config_path) if config_path else find_config()
        return cls(load_config(path), home)

    # -- lazily built parts ------------------------------------------------------
    def _built(self, attr: str, build: Callable[[], object]):
        """self.<attr>, built by build() on first use, once, under the service's lock."""
        with self._lock:
            if getattr(self, attr) is None:
                setattr(self, attr, build())
            return getattr(self, attr)

    def _open_mirror(self) -> Mirror:
        with storage_guard(self.home):
            return Mirror(mirror_path(self.home))

    @property
    def mirror(self) -> Mirror:
        return self._built("_mirror", self._open_mirror)

    @property
    def backend(self) -> VectorBackend:
        from core.factory import make_backend

        return self._built("_backend", lambda: make_backend(self.profile, self.home))

    @property
    def index(self) -> VectorIndex:
        return self._built("_index", lambda: self.backend.ensure_index(index_spec(self.profile, self.environment)))

    def index_for(self, record: NamespaceRecord) -> VectorIndex:
        """The index that holds this namespace record: the environment's, or the overflow index
        it was routed to (its index_profile); every read, write and delete goes through here."""
        return self._profile_index(record.index_profile or record.environment, record)

    def _profile_index(self, name: str, record: NamespaceRecord | None = None) -> VectorIndex:
        """The index of profile name: the environment's, or an overflow profile's (record: the
        namespace to name when lightfast.yml no longer routes to that profile)."""
        if name == self.environment:
            return self.index
        with self._lock:
            if name not in self._overflow:
                profiles = dict(index_chain(self.config))
                if name not in profiles:
                    from core.errors import ConfigError

                    held = f"namespace '{record.namespace_name}' lives in index '{record.index_name}'" \
                        if record else "an index"
                    raise ConfigError(
                        f"{held} (profile '{name}'), which lightfast.yml no longer routes to: list '{name}' under "
                        f"`limits.overflow.{self.environment}` again"
                    )
                self._overflow[name] = self.backend.ensure_index(index_spec(profiles[name], self.environment))
            return self._overflow[name]

    @property
    def embedder(self) -> Embedder:
        from core.factory import make_embedder

        return self._built("_embedder", lambda: make_embedder(self.profile))

    @property
    def reranker(self) -> Reranker:
        from core.factory import make_reranker

        return self._built("_reranker", lambda: make_reranker(self.profile))

    def reopen(self) -> None:
        """Forget the opened mirror and index: the next use opens the files as they are now
        (after `doctor` moved a damaged one aside)."""
        with self._lock:
            if self._mirror is not None:
                self._mirror.close()
            self._mirror = None
            self._index = None

    @property
    def root(self) -> Path:
        return self.config.root_path

    # -- namespaces ----------------------------------------------------------------
    def ensure_namespace(self, store_slug: str) -> NamespaceRecord:
        store = self.config.store(store_slug)
        return ensure_namespace(
            self.mirror, self.backend, self.profile, self.environment,
            self.config.organization, self.config.workspace, store,
            chain=index_chain(self.config), limits=self.config.limits,
        )

    def check_access(self, write: bool = False) -> None:
        """The bearer token's grant in force (core.tokens; none outside the HTTP MCP server)
        against this configuration's organization and workspace: ScopeError when it may not
        read them, or write them (write)."""
        grant = current_grant()
        if grant is None:
            return
        c = self.config
        if not grant.allows_organization(c.organization):
            raise ScopeError(f"{grant.describe()} is not for organization '{c.organization}'")
        if not grant.allows_workspace(c.workspace):
            raise ScopeError(f"{grant.describe()} may not {'write' if write else 'read'} workspace "
                             f"'{c.workspace}'")
        if write and grant.read_only:
            raise ScopeError(f"{grant.describe()} may not ingest: it is read-only")

    def _visible(self, workspace: str) -> bool:
        grant = current_grant()
        return grant is None or grant.allows_workspace(workspace)

    def namespace_records(self, scope: Scope = "workspace",
                          stores: Iterable[str] | None = None) -> list[NamespaceRecord]:
        """Records this configuration may see: the design's access check lives here.

        store: the given (or all configured) stores of this workspace;
        workspace: every namespace of this workspace; organization: of this org.
        """
        c = self.config
        if scope in ("store", "workspace"):
            self.check_access()
        grant = current_grant()
        if grant is not None and not grant.allows_organization(c.organization):
            raise ScopeError(f"{grant.describe()} is not for organization '{c.organization}'")
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
            return [r for r in self.mirror.namespaces(self.environment, c.organization)
                    if self._visible(r.workspace_id)]
        raise ScopeError(f"unknown scope '{scope}': use store, workspace or organization")

    def _listed(self, prefix: str) -> dict[tuple[str, str], int]:
        """(index name, namespace) -> the index's own vector count, over the environment's index
        and its overflow indexes (limits.overflow)."""
        found: dict[tuple[str, str], int] = {}
        for name, profile in index_chain(self.config):
            if self.backend.index_exists(profile.name):
                index = self._profile_index(name)
                for s in index.list_namespaces(prefix):
                    found[(profile.name, s.namespace)] = s.vector_count
        return found

    def namespaces(self, with_backend: bool = True) -> list[NamespaceStatus]:
        """Mirror records of this environment and organization, with counts.

        with_backend adds the index's own vector count (from the index the record names) and
        flags namespaces that exist on only one side.
        """
        records = self.namespace_records("organization")
        listed = self._listed(self._org_prefix()) if with_backend else {}
        out = []
        for r in records:
            last = self.mirror.last_ingest(r.id)
            row = NamespaceStatus.of(r, self.mirror.counts(r.id), last.finished_at if last else None,
                                     last.status if last else None)
            if with_backend:
                key = (r.index_name, r.namespace_name)
                row = replace(row, index_vectors=listed.get(key),
                              only_in="mirror" if row.vectors and key not in listed else None)
            out.append(row)
        if with_backend:
            known = {(r.index_name, r.namespace_name) for r in records}
            out += [NamespaceStatus(name, self.environment, index_name, index_vectors=count, only_in="index")
                    for (index_name, name), count in sorted(listed.items())
                    if (index_name, name) not in known and self._visible_name(name)]
        return out

    def browse_namespaces(self, with_backend: bool = True) -> list[NamespaceStatus]:
        """Every record of this machine's mirror, all environments and organizations, with counts.

        For a person browsing their own data dir (the TUI). Only this
        environment's indexes are asked for their own vector counts: other
        environments may need keys this session does not have.
        """
        rows = self.mirror.namespace_summaries()
        if not with_backend:
            return rows
        listed = self._listed("org_")
        out = []
        for row in rows:
            key = (row.index_name, row.namespace_name)
            if row.environment == self.environment:
                row = replace(row, index_vectors=listed.get(key),
                              only_in="mirror" if row.vectors and key not in listed else None)
            out.append(row)
        known = {(r.index_name, r.namespace_name) for r in rows if r.environment == self.environment}
        out += [NamespaceStatus(name, self.environment, index_name, index_vectors=count, only_in="index")
                for (index_name, name), count in sorted(listed.items()) if (index_name, name) not in known]
        return out

    def delete_namespace_by_id(self, record_id: str, remove_record: bool = False) -> int:
        """Delete exactly this record's vectors (and optionally the record); returns vectors deleted.

        Refuses a record of another environment: its index is not the one this
        configuration opens.
        """
        record = self.mirror.namespace_by_id(record_id)
        if record is None:
            raise NotFoundError(f"no namespace record with id '{record_id}' (deleted meanwhile?)")
        if record.environment != self.environment:
            raise ScopeError(
                f"{record.namespace_name} lives in environment '{record.environment}', this "
                f"configuration uses '{self.environment}': set `environment: {record.environment}` "
                "in lightfast.yml to delete it"
            )
        return self._delete_record(record, remove_record)

    def _org_prefix(self) -> str:
        from core.naming import sanitize_part

        return f"org_{sanitize_part(self.config.organization, 'organization')}:"

    def _visible_name(self, namespace: str) -> bool:
        """A namespace found only in the index: visible when its ws_ part is a granted workspace."""
        grant = current_grant()
        if grant is None:
            return True
        from core.naming import sanitize_part

        ws = namespace[len(self._org_prefix()):].split(":", 1)[0].removeprefix("ws_")
        return any(sanitize_part(w, "workspace") == ws for w in grant.workspaces)

    def delete_namespace(
        self, store_slug: str, remove_record: bool = False, *, lock_wait: float | None = None,
        on_lock_wait: Callable[[LockHolder], None] | None = None,
    ) -> int:
        """Delete a store's vectors (and optionally its record); returns vectors deleted."""
        self.check_access(write=True)
        return self._delete_record(self.store_namespace(store_slug), remove_record, lock_wait, on_lock_wait)

    def _delete_record(self, record: NamespaceRecord, remove_record: bool, lock_wait: float | None = None,
                       on_lock_wait: Callable[[LockHolder], None] | None = None) -> int:
        with storage_guard(self.home), self._writer_lock(lock_wait, on_lock_wait):
            count = self.mirror.counts(record.id).vectors
            self.index_for(record).delete_namespace(record.namespace_name)
            if remove_record:
                self.mirror.delete_namespace_record(record.id)
            else:
                self.mirror.clear_documents(record.id)
        return count

    # -- the legacy layout during a migration -------------------------------------------
    def _legacy_route(self):
        """The design's read flag off: read each store's own legacy index."""
        from core.migrate import LEGACY_NAMESPACE

        legacy = {(s.workspace_id, s.slug): s.index_name for s in self.mirror.legacy_stores(self.config.organization)}

        def route(ns: NamespaceRecord):
            name = legacy.get((ns.workspace_id, ns.store_slug))
            if name is None:  # a store that never had a legacy index
                return self.index_for(ns), ns.namespace_name
            return self.backend.index(name), LEGACY_NAMESPACE

        return route

    def _write_index(self, record: NamespaceRecord) -> VectorIndex:
        """The record's shared index, written together with its legacy index while a migration is
        under way."""
        targets = self.mirror.dual_write_targets()
        if not targets:
            return self.index_for(record)
        from core.migrate import DualWriteIndex

        return DualWriteIndex(self.index_for(record),
                              {name: self.backend.index(index) for name, index in targets.items()})

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

    def doctor(self, repair: bool = False,
               on_lock_wait: Callable[[LockHolder], None] | None = None) -> "DoctorReport":
        """Compare the mirror with the index per namespace (core.doctor.check); with repair,
        repair this configuration's stores first (core.doctor.repair; it takes the writer lock,
        calling on_lock_wait(holder) once if it has to wait). Blocking."""
        from core.doctor import check
        from core.doctor import repair as repair_all

        with storage_guard(self.home):
            return repair_all(self, on_lock_wait) if repair else check(self)

    def index_problems(self) -> int | None:
        """Problems a counts-only check of this configuration's stores finds (cheap enough for a
        status line); None when the index is not local (Pinecone's counts lag and cost a call)."""
        if self.backend.kind != "local":
            return None
        from core.doctor import check

        return check(self, by_id=False, own_only=True).problems

    def dashboard(self) -> dict:
        """Every figure of the stats dashboard (core.stats.dashboard). Blocking: call from a thread."""
        from core.search import flush_query_log
        from core.stats import dashboard

        flush_query_log()  # this process's searches are in the query log the figures read
        return {**dashboard(self), "index_problems": self.index_problems()}

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
        only = relative_in_root(self.root, paths) if paths is not None else None
        return self._ingest(stores, only, full=full, progress=progress, cancelled=cancelled,
                            lock_wait=lock_wait, on_lock_wait=on_lock_wait, force=force)

    def ingest_since(
        self,
        since: str,
        until: str | None = None,
        stores: Iterable[str] | None = None,
        **options,
    ) -> tuple[IngestReport, "GitChanges"]:
        """Ingest exactly what `git diff --name-status SINCE..UNTIL` (default: HEAD) changed:
        added, modified, renamed (old path removed, new added) and deleted files, through the
        stores' globs and ignores as any ingest. options: as ingest takes them (not paths).
        GitError for a root outside git, an unknown revision, or UNTIL not checked out."""
        from core.git_changes import changes_since

        for slug in stores or ():
            self.config.store(slug)  # an unknown store is refused before git runs
        changes = changes_since(self.root, since, until)
        if not changes.changes:  # nothing changed: nothing to do (an empty selection is not "all")
            return IngestReport(), changes
        return self._ingest(stores, changes.paths(), **options), changes

    # -- alerts (core/checks.py) ----------------------------------------------------------
    def check(self, *, canary: bool | None = None, with_backend: bool = True, now=None):
        """core.checks.run_checks over this configuration: a CheckReport whose ok is False when any
        threshold (lightfast.yml `limits` and `check`) is crossed. Blocking: call from a thread."""
        from core.checks import run_checks
        from core.search import flush_query_log

        flush_query_log()  # this process's searches count
        return run_checks(self, canary=canary, with_backend=with_backend, now=now)

    # -- push-triggered ingest (core/webhook.py) ---------------------------------------
    def connect_repository(self, full_name: str, branch: str | None = None,
                           clone_url: str | None = None) -> ConnectedRepository:
        """Record this repo root's git clone as GitHub's full_name for the webhook (branch: the
        checked-out one; clone_url: remote origin's, credentials stripped). Its HEAD counts as
        ingested, the first time: run `lightfast ingest` before connecting."""
        from core.webhook import connect_record

        if self.config.source_path is None:
            raise ScopeError("connect needs a lightfast.yml on disk (the webhook opens it for each push)")
        row = connect_record(self.root, Path(self.config.source_path).resolve(), full_name, branch, clone_url)
        stored = self.mirror.connect_repository(row)
        self.mirror.set_repository_sha_if_unset(stored.id, row["head"])
        return self.mirror.connected_repository(stored.full_name) or stored

    def connected_repositories(self) -> list[ConnectedRepository]:
        return self.mirror.connected_repositories()

    def webhook_server(self, secret: bytes, host: str = "127.0.0.1", port: int | None = None,
                       on_done=None, open_service: Callable[[Path], "Lightfast"] | None = None):
        """A core.webhook.WebhookServer over this data dir's mirror (bound, not started). Each push
        opens the lightfast.yml its connected repository names, in this data dir."""
        from core.webhook import DEFAULT_PORT, WebhookServer

        opener = open_service or (lambda path: Lightfast.open(path, self.home))
        return WebhookServer(self.mirror, secret, opener, host=host,
                             port=DEFAULT_PORT if port is None else port, on_done=on_done)

    def _ingest(
        self,
        stores: Iterable[str] | None,
        only: set[str] | None,
        *,
        full: bool = False,
        progress: ProgressCallback | None = None,
        cancelled: Callable[[], bool] | None = None,
        lock_wait: float | None = None,
        on_lock_wait: Callable[[LockHolder], None] | None = None,
        force: bool | None = None,
    ) -> IngestReport:
        """ingest with the selection already made: only holds stored repo-relative paths (None: all)."""
        slugs = list(stores) if stores else [s.slug for s in self.config.stores]
        store_configs = [self.config.store(s) for s in slugs]
        self.check_access(write=True)
        started = time.perf_counter()
        report = IngestReport()
        with storage_guard(self.home), self._writer_lock(lock_wait, on_lock_wait):
            found = self.scan()
            self.mirror.mark_interrupted_runs()  # we hold the lock: whatever says 'running' died
            check_ingest(self.config, self.mirror, self.environment, store_configs, found, only,
                         force)  # core/guards.py; force None: LIGHTFAST_FORCE_REMOVE decides
            for store in store_configs:
                namespace = self.ensure_namespace(store.slug)
                report.stores.append(
                    ingest_store(
                        self.mirror, self._write_index(namespace), self.embedder, namespace, store, found,
                        full=full, only_paths=only, progress=progress, cancelled=cancelled,
                        check_index=self.backend.kind == "local",  # exact counts: cheap to compare
                    )
                )
                if cancelled and cancelled():
                    break
        report.seconds = time.perf_counter() - started
        return report

    def last_ingest_runs(self) -> list[IngestRun]:
        """The last recorded ingest run of each of this configuration's stores (from the mirror,
        whichever process ran it): store_slug, status, started_at, finished_at, counts, error."""
        runs = []
        for record in self.namespace_records("store"):
            last = self.mirror.last_ingest(record.id)
            if last:
                runs.append(last)
        return runs

    def indexed_paths(self, paths: Iterable[str], stores: Iterable[str] | None = None) -> set[str]:
        """Those of the given repo-relative paths that the stores' namespaces hold a document at
        (or, for a folder, below); lets a face tell a deleted file from a path that never existed."""
        wanted = set(paths)
        held: set[str] = set()
        for record in self.namespace_records("store", stores):
            for doc in self.mirror.documents(record.id):
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
        query = validate_query(query, top_k, mode)  # the one check; search_namespaces trusts it
        records = self.namespace_records(scope, stores)
        usable, failed = [], {}
        for record in records:
            try:
                check_model(record, self.profile)
                usable.append(record)
            except DimensionMismatchError as exc:  # built with another model: skipped, and said why
                failed[record.namespace_name] = str(exc)
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
            route=(lambda ns: (self.index_for(ns), ns.namespace_name)) if self.config.use_shared_index
            else self._legacy_route(), mode=mode,
        )
        result.failed.update(failed)
        if self.backend.kind == "local" and self.config.use_shared_index:
            self._flag_lost_vectors(result, usable)
        return result

    def _flag_lost_vectors(self, result: SearchResult, records: list[NamespaceRecord]) -> None:
        """A namespace the mirror says holds vectors but that gave no hit: compare counts, so an
        index whose files were lost is an error, never a silent "no hits" (counts are exact and
        cheap on the local index; namespaces that gave hits are not asked)."""
        shown = {h.namespace for h in result.hits}
        c = self.config
        for record in records:
            name = record.namespace_name
            if name in shown or name in result.failed:
                continue
            expected = self.mirror.counts(record.id).vectors
            if not expected:
                continue
            try:
                held = self.index_for(record).namespace_stats(name).vector_count
            except LightfastError as exc:
                result.failed[name] = str(exc)
                continue
            here = (record.organization_id, record.workspace_id) == (c.organization, c.workspace)
            fix = f"`lightfast ingest --store {record.store_slug}`" if here else \
                f"`lightfast ingest` in the repo of store '{record.store_slug}'"
            if held == 0:
                result.failed[name] = (f"the index holds none of the {expected:,} vectors the mirror lists for "
                                       f"namespace '{name}' (its files were deleted or lost); recover with {fix}")
            elif held < expected:
                result.notes.append(f"namespace '{name}': the index holds {held:,} of the {expected:,} vectors the "
                                    f"mirror lists; hits may be missing: recover with {fix}")

    def read_chunk(self, vector_id: str, namespace: str | None = None, radius: int = 1) -> dict:
        """A hit's chunk with up to radius neighbours either side, read from the index."""
        records = self.namespace_records("organization")
        if namespace:
            records = [r for r in records if r.namespace_name == namespace]
            if not records:
                raise NotFoundError(f"no chunk with id '{vector_id}': namespace '{namespace}' is not one of "
                                    f"this organization's namespaces in environment '{self.environment}'")
        for record in records:
            entries = self.mirror.chunk_neighbours(record.id, vector_id, radius)
            if not entries:
                continue
            fetched = self.index_for(record).fetch(record.namespace_name, [e["vector_id"] for e in entries])
            chunks = []
            for e in entries:
                rec = fetched.get(e["vector_id"])
                chunks.append({
                    "vector_id": e["vector_id"], "chunk_index": e["chunk_index"],
                    "start_line": e["start_line"], "end_line": e["end_line"],
                    "text": rec.metadata.get("text", "") if rec else "",
                })
            return {"namespace": record.namespace_name, "store": record.store_slug,
                    "path": entries[0]["path"], "chunks": chunks}
        where = f"namespace '{namespace}'" if namespace else "this organization's namespaces"
        raise NotFoundError(f"no chunk with id '{vector_id}' in {where}")

    # == What the faces need (issue #20.1) =====================================================
    # The CLI and the TUI import nothing of core but this module, core.types and core.errors
    # (import-linter, pyproject.toml): each face operation that once reached into core is here.
    # Static methods need no lightfast.yml (tokens, prices, a data dir without a config).

    def store_namespace(self, store_slug: str) -> NamespaceRecord:
        """The namespace record of one store of this lightfast.yml in this environment; ConfigError
        for an unknown slug, NoNamespaceError when it was never ingested here."""
        self.check_access()
        self.config.store(store_slug)  # unknown slug -> ConfigError listing the known ones
        record = self.mirror.get_namespace(self.environment, self.config.organization, self.config.workspace,
                                           store_slug)
        if record is None:
            raise NoNamespaceError(
                f"store '{store_slug}' has no namespace yet; ingest it first "
                f"(`lightfast ingest --store {store_slug}`, environment '{self.environment}')")
        return record

    def store_status(self) -> list[dict]:
        """Each store of this lightfast.yml, in its order: store, namespace (None before its first
        ingest), documents, vectors, last_ingest, last_ingest_status (from the mirror)."""
        own = {r.id for r in self.namespace_records("store")}
        rows = {r.record.store_slug: r for r in self.namespaces(with_backend=False) if r.record and r.record.id in own}
        out = []
        for store in self.config.stores:
            r = rows.get(store.slug)
            out.append({
                "store": store.slug, "namespace": r.namespace_name if r else None,
                "documents": r.documents if r else 0, "vectors": r.vectors if r else 0,
                "last_ingest": r.last_ingest if r else None,
                "last_ingest_status": r.last_ingest_status if r else None,
            })
        return out

    def plan(self, stores: Iterable[str] | None = None, *, full: bool = False,
             force: bool | None = None) -> "IngestPlan":
        """What an ingest would embed, skip and remove, and its cost (core.plan); embeds nothing."""
        from core.plan import plan_ingest

        return plan_ingest(self, stores, full=full, force=force)

    @staticmethod
    def missing_paths(paths: Iterable[Path]) -> list[Path]:
        """Those of paths that exist neither as given nor as the name Lightfast stores for them
        (a name with undecodable bytes is stored escaped: 'caf\\xe9.md')."""
        from core.scan import path_bytes

        return [p for p in paths
                if not p.exists() and not Path(os.fsdecode(path_bytes(str(p)))).exists()]

    def stats(self) -> "StatsReport":
        """The dashboard's named queries over the mirror (DuckDB), with the billed usage. Blocking."""
        from core.stats import billed_usage, named_queries, run_named, usage_lines

        limits = self.config.limits
        usage = billed_usage(self.mirror, self.environment)
        titles = named_queries(limits.namespace_limit, limits.alert_threshold)
        return StatsReport(
            tables=run_named(self.mirror, limits.namespace_limit, limits.alert_threshold),
            titles={name: title for name, (title, _sql) in titles.items()},
            billed_usage=usage, usage_lines=usage_lines(usage),
            index_chain=[(name, profile.name) for name, profile in index_chain(self.config)],
        )

    @staticmethod
    def check_sql(query: str) -> None:
        """LightfastError unless query is one read-only statement (checked before opening anything)."""
        from core.stats import check_read_only

        check_read_only(query)

    def sql(self, query: str) -> "QueryResult":
        """One read-only DuckDB query over an in-memory copy of the mirror's tables (run_sql refuses
        anything else)."""
        from core.stats import run_sql

        return run_sql(self.mirror, query)

    def cost_figures(self) -> tuple[dict | None, dict]:
        """This environment's stores, vectors per store and dimension (None before any ingest),
        and the usage the services reported billing."""
        from core.stats import billed_usage, mirror_figures

        return mirror_figures(self.mirror, self.environment), billed_usage(self.mirror, self.environment)

    @staticmethod
    def home_cost_figures(home: Path | None = None) -> tuple[dict | None, dict | None]:
        """As cost_figures, over every environment of the mirror in home (default $LIGHTFAST_HOME),
        for a face run where no lightfast.yml is found; (None, None) when there is no mirror."""
        from core.stats import billed_usage, mirror_figures

        path = mirror_path(Path(home) if home else data_dir())
        if not path.exists():
            return None, None
        mirror = Mirror(path)
        return mirror_figures(mirror), billed_usage(mirror)

    @staticmethod
    def compare_costs(prices: "Prices", workload: "Workload | None" = None) -> list[dict]:
        """One index per store vs one shared index, priced (core.cost): for workload, or for the
        design's scenarios when None."""
        from core.cost import compare, design_scenarios

        return [compare(workload, prices)] if workload else design_scenarios(prices)

    @staticmethod
    def cost_corrections(prices: "Prices") -> list[str]:
        """Where the design's cost figures are out of date or its arithmetic is off."""
        from core.cost import corrections

        return corrections(prices)

    @staticmethod
    def usage_lines(usage: dict) -> list[str]:
        """Billed usage (cost_figures) in words: reported figures beside the estimate."""
        from core.stats import usage_lines

        return usage_lines(usage)

    def verify_isolation(self, sample: int | None = None, wait: float | None = None) -> "IsolationReport":
        """Canary records written to each (or sample) namespace and queried from every other
        (core.isolation); canaries are removed afterwards. Blocking."""
        from core.isolation import verify_isolation

        return verify_isolation(self, sample=sample, wait=wait)

    def migration(self, **options) -> "Migration":
        """A core.migrate.Migration over this service (legacy per-store indexes -> the shared one)."""
        from core.migrate import Migration

        return Migration(self, **options)

    def reconcile(self) -> tuple[int, list["Drift"]]:
        """Every shared namespace of this organization against the mirror, id by id:
        (namespaces checked, drifts)."""
        from core.migrate import reconcile

        return reconcile(self)

    @staticmethod
    def tokens_path(given: str | Path | None = None) -> Path:
        """The bearer tokens file: given, else $LIGHTFAST_HOME/tokens.json."""
        from core.tokens import tokens_path

        return Path(given) if given else tokens_path()

    @staticmethod
    def add_token(path: Path, organization: str, workspaces: Iterable[str], read_only: bool = False,
                  label: str = "") -> "tuple[str, TokenEntry]":
        """A new bearer token (returned once) and its entry; only its hash is stored in path."""
        from core.tokens import add_token

        return add_token(path, organization, workspaces, read_only, label)

    @staticmethod
    def list_tokens(path: Path) -> "list[TokenEntry]":
        from core.tokens import TokenFile

        return TokenFile.load(path).entries

    @staticmethod
    def revoke_token(path: Path, token_id: str) -> "TokenEntry":
        from core.tokens import revoke_token

        return revoke_token(path, token_id)

    @staticmethod
    def config_organization(config_path: Path | None = None) -> str:
        """The organization of a lightfast.yml (given, or found from the working directory up)."""
        return load_config(Path(config_path) if config_path else find_config()).organization

    @staticmethod
    def webhook_secret() -> bytes:
        """The webhook's secret from LIGHTFAST_WEBHOOK_SECRET; WebhookError when it is unset."""
        from core.webhook import secret_from_env

        return secret_from_env()

    # --- MCP face ---
    # What mcp_server needs beyond the methods above; it imports nothing else from core.
    @staticmethod
    def granted(grant: Grant | None):
        """A context manager: the block runs under a bearer token's grant (None: unrestricted),
        which every access check inside it enforces, in the worker threads it starts too (they
        copy the context). The HTTP MCP server wraps each tool call and resource read in one."""
        from core.tokens import granted

        return granted(grant)

    @staticmethod
    def token_store(path: str | Path | None = None) -> TokenStore:
        """The bearer tokens file (Lightfast.tokens_path) as a running server reads it: re-read
        whenever it changes on disk."""
        return TokenStore(Lightfast.tokens_path(path))

    def store_namespace_row(self, store_slug: str, with_backend: bool = False) -> NamespaceStatus:
        """store_namespace's record as namespaces() lists it: with its document and vector counts
        and last ingest (with_backend: and the index's own count); store_namespace's errors."""
        record = self.store_namespace(store_slug)
        row = next((r for r in self.namespaces(with_backend=with_backend) if r.record and r.record.id == record.id), None)
        if row is None:
            raise NoNamespaceError(f"store '{store_slug}' has no namespace any more (deleted meanwhile); "
                                   "ingest it again")
        return row

    def warm(self) -> str:
        """Open (and migrate) the mirror and load the embedding model now rather than on the
        first call; returns the model's name. Blocking: a server calls it in a thread."""
        self.mirror  # noqa: B018 - the property opens it
        embedder = self.embedder
        if hasattr(embedder, "warm"):
            embedder.warm()
        return getattr(embedder, "model_name", "embedder")


@dataclass
class StatsReport:
    """Lightfast.stats(): the dashboard's tables by query name, and what the services billed."""

    tables: dict[str, "QueryResult"]
    titles: dict[str, str]  # query name -> its title
    billed_usage: dict
    usage_lines: list[str]
    index_chain: list[tuple[str, str]]  # (profile, index name): where new namespaces go, in order


#: The stores `lightfast init` configures: prose and code, by extension.
DEFAULT_STORES = [
    ("docs", ["**/*.md", "**/*.mdx", "**/*.rst", "**/*.txt"]),
    ("code", ["**/*.py", "**/*.js", "**/*.ts", "**/*.tsx", "**/*.go", "**/*.rs",
              "**/*.java", "**/*.rb", "**/*.c", "**/*.h", "**/*.cpp", "**/*.sh"]),
]


def create_config(directory: Path, *, target: Path | None = None, organization: str | None = None,
                  workspace: str | None = None, force: bool = False) -> Path:
    """Write a default lightfast.yml for the repo in directory (at target, default
    directory/lightfast.yml) and return its path; refuses to overwrite one unless force.
    organization defaults to 'local', workspace to the folder's name."""
    from core.config import CONFIG_FILENAME, default_config_text

    target = target or directory / CONFIG_FILENAME
    if target.exists() and not force:
        raise InvalidArgumentError(f"{target} already exists; pass --force to overwrite it")
    directory.mkdir(parents=True, exist_ok=True)
    text = default_config_text(organization or "local", workspace or directory.name or "main", DEFAULT_STORES)
    target.write_text(text, encoding="utf-8")
    load_config(target)  # what we write must load
    return target
