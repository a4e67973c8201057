"""Auto-ingest: the index follows the repo as files change (the design's push webhook, locally).

Start-up catches up with whatever changed while nobody watched (one
incremental ingest of everything, run once the file watch is live so nothing
slips between the two). Then watchfiles reports changes, grouped until the
repo has been quiet for `debounce_ms` (so an editor's save-via-rename or a
`git checkout` of 500 files is one batch); changes no store can see (other
file types, .gitignore'd paths, `.git`, virtualenvs, `node_modules`, the data
dir) are dropped, and only the remaining paths are re-ingested: changed files
re-embedded, deleted ones removed, a rename being both, a new or removed
directory taken whole.

An edit to lightfast.yml reloads the configuration (an invalid edit is logged
and the old one kept) and runs a whole incremental ingest, which ensures new
stores' namespaces; an edit to a .gitignore runs one too. Ingest holds the
data dir's writer lock, so several watchers, MCP servers, TUIs and CLIs take
turns: a watcher that finds the lock taken waits (status "waiting") and, once
it gets it, finds the other process's work done by content hash instead of
embedding it again. A batch that fails is logged, kept and retried with the
next batch (or after a back-off); a file that cannot be read or decoded is
reported by ingest and skipped. Stopping sets `stop_event`, which the running
ingest checks between files.

Faces: `lightfast watch`, `lightfast mcp --watch`, the TUI's `w` key. This
module imports no face, and watchfiles only when watching starts.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from core.errors import LightfastError, LockedError, WatchError
from core.ingest import content_hash
from core.scan import (DEFAULT_IGNORED_DIRS, FoundFile, StoreMatcher, Unusable, _GitIgnores, escape_path,
                       own_output_files, read_found, repo_file, walk_dirs)

log = logging.getLogger("lightfast.watch")

#: How long one attempt at the writer lock lasts before the watcher checks whether it was stopped.
LOCK_POLL_S = 0.5
#: Back-off before a failed batch is retried when no new change arrives (doubles up to RETRY_MAX_S).
RETRY_S = 2.0
RETRY_MAX_S = 60.0
#: Editor droppings that never hold a store's content.
_SCRATCH_SUFFIXES = ("~", ".swp", ".swx", ".swo")


@dataclass
class WatchState:
    """What a face shows. Written by the watcher thread only; read `Watcher.snapshot()` for a consistent copy."""

    status: str = "stopped"  # stopped | starting | catching up | idle | syncing | waiting | error
    batches: int = 0  # batches applied, the start-up catch-up included
    last_summary: str = ""  # "1 added, 0 changed, ..." of the last applied batch
    last_error: str = ""  # why the last batch or reload failed; "" once one succeeds
    last_batch_at: float | None = None  # time.time() when the last batch was applied
    last_paths: list[str] = field(default_factory=list)  # repo-relative paths of that batch; [] = whole repo
    retry_pending: bool = False  # a failed batch waits to be retried


BatchCallback = Callable[[WatchState, object], None]  # (state, IngestReport, or None when the batch failed)


class Watcher:
    """Keeps one service's stores in step with its repo.

    service: a core `Lightfast`. on_batch(state, report) runs in the watcher's
    thread after every applied batch (report is the IngestReport) and after a
    failed one (report None, state.last_error says why); on_state(state) after
    every status change; on_progress(progress) with each batch's ingest progress
    (a core.ingest.Progress); on_reload(service) after lightfast.yml was reloaded
    (the watcher then uses the new service). reload() builds the new service
    (default: the same file and data dir, keeping the embedder and backend when
    the index profile is unchanged). debounce_ms is the quiet time that ends a
    batch (step_ms is an old name for it); max_batch_ms caps how long a
    never-quiet burst is gathered. force_polling: True polls every
    poll_delay_ms with our own poller (network drives, containers), False uses
    file system events, None decides like watchfiles (WATCHFILES_FORCE_POLLING,
    WSL); without inotify the watcher falls back to polling by itself.
    stop_event: share one to stop several things at once.
    """

    def __init__(
        self,
        service,
        *,
        on_batch: BatchCallback | None = None,
        on_state: Callable[[WatchState], None] | None = None,
        on_reload: Callable[[object], None] | None = None,
        on_progress: Callable[[object], None] | None = None,
        reload: Callable[[], object] | None = None,
        debounce_ms: int = 200,
        max_batch_ms: int = 5000,
        stop_event: threading.Event | None = None,
        force_polling: bool | None = None,
        poll_delay_ms: int = 300,
        tick_ms: int = 250,
        step_ms: int | None = None,
    ):
        if step_ms is not None:  # the first draft's name for debounce_ms
            debounce_ms = step_ms
        self.service = service
        self.on_batch = on_batch or (lambda state, report: None)
        self.on_state = on_state or (lambda state: None)
        self.on_reload = on_reload or (lambda service: None)
        self.on_progress = on_progress  # core.ingest.Progress of each batch's ingest
        self.reload = reload or self._default_reload
        self.debounce_ms = debounce_ms
        self.max_batch_ms = max(max_batch_ms, debounce_ms)
        self.stop_event = stop_event or threading.Event()
        self.force_polling = force_polling
        self.poll_delay_ms = poll_delay_ms
        self.tick_ms = tick_ms
        self.state = WatchState()
        self._state_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._retry: set[str] | None | bool = False  # False: nothing to retry; None: the whole repo
        self._retry_at = 0.0
        self._retry_delay = RETRY_S
        self._ignores: _GitIgnores | None = None
        self._own_output = own_output_files()  # `lightfast watch 2> w.log` must not feed on itself

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> "Watcher":
        """Run in a daemon thread; returns at once."""
        if self.running:
            return self
        self.stop_event.clear()
        self._thread = threading.Thread(target=self._run_logged, name="lightfast-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 30) -> bool:
        """Ask the watcher to stop (the running ingest stops after its current file) and wait.

        Returns True once the thread has ended."""
        self.stop_event.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                return False
            self._thread = None
        return True

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def snapshot(self) -> WatchState:
        """A copy of the state, safe to read from any thread."""
        with self._state_lock:
            return dataclasses.replace(self.state, last_paths=list(self.state.last_paths))

    def _run_logged(self) -> None:
        try:
            self.run()
        except LightfastError:
            pass  # already in the state and reported through on_batch
        except Exception:
            log.exception("the watcher stopped on an unexpected error")

    def run(self) -> None:
        """Catch up, then apply changes until stop_event is set. Blocks; raises LightfastError
        if the repo cannot be watched at all."""
        root = Path(self.service.root)
        self._set(status="starting", last_error="")
        config_path = self.service.config.source_path
        if config_path is not None and not Path(config_path).is_relative_to(root):
            log.info("%s is outside the repo root %s: restart the watcher after editing it", config_path, root)
        caught_up = False
        try:
            for paths in self._changes(root):
                if self.stop_event.is_set():
                    break
                if not caught_up:  # the watch is live now, so nothing changed from here on is missed
                    caught_up = True
                    self._apply(None, "catching up")
                if paths is None:
                    self._apply(None, "syncing")
                elif paths:
                    self._handle(paths)
                elif self._retry is not False and time.monotonic() >= self._retry_at:
                    self._apply(None if self._retry is None else set(), "syncing")
        except OSError as exc:  # a vanished root, an unreadable directory...
            message = f"cannot watch {root}: {exc.strerror or exc}"
            self._failed(message)
            raise WatchError(message) from exc
        finally:
            self._set(status="stopped")

    # -- where changes come from -------------------------------------------------------
    def _changes(self, root: Path) -> Iterator[set[Path] | None]:
        """Batches of changed paths; an empty set is a tick (nothing changed for a while), None
        asks for a whole sync. The first yield comes once the watch is live."""
        if _should_poll(self.force_polling):
            yield from self._polled(root)
            return
        notified = self._notified(root)
        try:
            first = next(notified)
        except StopIteration:
            return
        except OSError as exc:  # no inotify (or out of watches): poll instead
            log.warning("cannot use file system events for %s (%s); polling every %d ms instead",
                        root, exc.strerror or exc, self.poll_delay_ms)
            yield from self._polled(root)
            return
        yield first
        try:
            yield from notified
        except Exception as exc:
            # watchfiles' Rust side cannot hand over a name that is not UTF-8, and the watch
            # ends there; our poller can. The event that broke it is lost: look at everything.
            if type(exc).__name__ != "WatchfilesRustInternalError":
                raise
            log.warning("file system events stopped (%s); polling every %d ms instead", exc, self.poll_delay_ms)
            polled = self._polled(root)
            yield next(polled)  # the poller's first picture is taken...
            yield None  # ...then one whole sync catches up with whatever the lost events carried
            yield from polled

    def _notified(self, root: Path) -> Iterator[set[Path]]:
        from watchfiles import watch

        for changes in watch(
            root, watch_filter=self._cheap_filter, debounce=self.max_batch_ms, step=self.debounce_ms,
            stop_event=self.stop_event, rust_timeout=self.tick_ms, yield_on_timeout=True,
            raise_interrupt=False, force_polling=False,
            ignore_permission_denied=True,
        ):
            yield {Path(p) for _, p in changes}

    def _polled(self, root: Path) -> Iterator[set[Path]]:
        """Our own poller: stat what a store can see every poll_delay_ms and diff.

        (watchfiles' poller compares whole-second mtimes, so it misses a second
        save within the same second; this compares size and mtime_ns.)"""
        before = self._stat_tree(root)
        yield set()
        pending: set[Path] = set()
        first_at = last_at = 0.0
        while not self.stop_event.wait(self.poll_delay_ms / 1000):
            now_tree = self._stat_tree(root)
            changed = {p for p in before.keys() | now_tree.keys() if before.get(p) != now_tree.get(p)}
            before = now_tree
            now = time.monotonic()
            if changed:
                pending |= changed
                last_at = now
                first_at = first_at or now
            if pending and (now - last_at >= self.debounce_ms / 1000 or now - first_at >= self.max_batch_ms / 1000):
                yield pending
                pending, first_at = set(), 0.0
            elif not pending:
                yield set()

    def _stat_tree(self, root: Path) -> dict[Path, tuple[int, int]]:
        """(size, mtime_ns) of every file a store includes, every .gitignore and lightfast.yml."""
        config = self.service.config
        matchers = [StoreMatcher(s.include, s.exclude) for s in config.stores]
        ignores = _GitIgnores(root)  # fresh: a .gitignore may just have changed
        home = Path(self.service.home).resolve()
        real_root = root.resolve()
        # Symlinked directories are never entered, so the data dir is found by its relative path
        # (resolving every directory costs its depth: a 1,000-deep tree took minutes a poll).
        home_rel = home.relative_to(real_root).as_posix() if home.is_relative_to(real_root) else None
        top = os.fspath(root)
        out: dict[Path, tuple[int, int]] = {}
        if config.source_path is not None:
            out.update(_stat(Path(config.source_path)))
        for dirpath, dirnames, filenames in walk_dirs(root):
            current = Path(dirpath)
            rel_dir = dirpath[len(top) + 1:] + "/" if dirpath != top else ""
            dirnames[:] = [
                d for d in dirnames
                if d not in DEFAULT_IGNORED_DIRS and rel_dir + d != home_rel
                and not ignores.ignored(rel_dir + d, is_dir=True)
            ]
            for name in filenames:
                rel = rel_dir + name
                if name == ".gitignore" or (any(m.matches(escape_path(rel)) for m in matchers)
                                            and not ignores.ignored(rel, is_dir=False)):
                    out.update(_stat(current / name, self._own_output))
        return out

    # -- which changes matter -------------------------------------------------------------
    def _cheap_filter(self, change, path: str) -> bool:
        """Runs on every raw event: drop what no store can ever see, by path alone."""
        p = Path(path)
        if p.name.endswith(_SCRATCH_SUFFIXES):
            return False
        root = Path(self.service.root)
        try:
            parts = p.relative_to(root).parts
        except ValueError:
            return False
        if any(part in DEFAULT_IGNORED_DIRS for part in parts):
            return False
        home = Path(self.service.home).resolve()
        return not p.is_relative_to(home) and not self._is_own_output(p)

    def _is_own_output(self, path: Path) -> bool:
        if not self._own_output:
            return False
        try:
            st = path.stat()
        except OSError:
            return False
        return (st.st_dev, st.st_ino) in self._own_output

    def _relevant(self, paths: set[Path]) -> set[str]:
        """The repo-relative paths of a batch that a store can see (or saw, for deleted ones)."""
        root = Path(self.service.root)
        if self._ignores is None:
            self._ignores = _GitIgnores(root)
        config = self.service.config
        matchers = [StoreMatcher(s.include, s.exclude) for s in config.stores]
        known: set[str] | None = None
        out: set[str] = set()
        for p in paths:
            raw = p.relative_to(root).as_posix()
            if raw == "." or self._ignored(raw, p.is_dir()):  # .gitignore rules match the real name
                continue
            rel = escape_path(raw)  # the stored form, as ingest keys documents (any bytes, newlines...)
            if p.is_dir():
                out.add(rel)  # a new or renamed directory: ingest takes everything below it
            elif any(m.matches(rel) for m in matchers):
                out.add(rel)
            elif not p.exists():  # deleted: was it a directory the index holds files of?
                if known is None:
                    known = self._indexed_paths()
                prefix = rel + "/"
                if any(k.startswith(prefix) for k in known):
                    out.add(rel)
        return out

    def _ignored(self, rel: str, is_dir: bool) -> bool:
        parts = rel.split("/")
        for depth in range(1, len(parts)):
            if self._ignores.ignored("/".join(parts[:depth]), is_dir=True):
                return True
        return self._ignores.ignored(rel, is_dir=is_dir)

    def _indexed_paths(self) -> set[str]:
        paths: set[str] = set()
        for record in self.service.namespace_records("store"):
            paths.update(self.service.mirror.documents(record["id"]))
        return paths

    # -- work -------------------------------------------------------------------------
    def _handle(self, paths: set[Path]) -> None:
        config_path = self.service.config.source_path
        if config_path is not None and Path(config_path) in paths:
            if self._reload_config():
                self._apply(None, "syncing")  # new stores, globs or limits: look at everything
                return
        if any(p.name == ".gitignore" for p in paths):
            self._ignores = None
            self._apply(None, "syncing")  # newly ignored files leave the index, re-included ones join
            return
        relevant = self._content_changed(self._relevant(paths))
        if relevant:
            self._apply(relevant, "syncing")

    def _content_changed(self, paths: set[str]) -> set[str]:
        """Those of the paths an ingest has something to do for: a batch of saves that leave a
        file's bytes as indexed (a touch, a rewrite with the same text) or of deletions of files
        never indexed writes nothing at all. A file ingest would skip is kept, so its reason
        is reported."""
        service = self.service
        config = service.config
        root = Path(service.root)
        stores = []
        for store in config.stores:
            record = service.mirror.get_namespace(service.environment, config.organization, config.workspace,
                                                  store.slug)
            stores.append((StoreMatcher(store.include, store.exclude),
                           service.mirror.documents(record["id"]) if record else None))
        out = set()
        for rel in paths:
            full = repo_file(root, rel)
            if full.is_dir():
                out.add(rel)  # a new or renamed directory: ingest looks below it
                continue
            try:
                st = full.stat()
            except OSError:  # gone: only what the index holds at or under it matters
                if any(docs is not None and (rel in docs or any(k.startswith(rel + "/") for k in docs))
                       for _, docs in stores):
                    out.add(rel)
                continue
            held = [docs.get(rel) if docs is not None else None for matcher, docs in stores if matcher.matches(rel)]
            known = [doc for doc in held if doc is not None]
            read = (Unusable("too large") if st.st_size > config.limits.max_file_bytes
                    else read_found(FoundFile(rel, full, st.st_size, st.st_mtime_ns)))
            if isinstance(read, Unusable):  # ingest says why it skips it (and drops an indexed copy)
                out.add(rel)
                continue
            digest = content_hash(read[0])
            if len(known) < len(held) or any(doc["content_hash"] != digest for doc in known):
                out.add(rel)
        return out

    def _apply(self, paths: set[str] | None, status: str) -> None:
        """Ingest paths (None: the whole repo), merged with a failed batch awaiting retry."""
        if self._retry is None:
            paths = None
        elif self._retry is not False and paths is not None:
            paths = paths | self._retry
        self._set(status=status, last_paths=sorted(paths or []))
        service = self.service
        while True:
            try:
                report = service.ingest(
                    paths=sorted(paths) if paths is not None else None,
                    cancelled=self.stop_event.is_set, lock_wait=LOCK_POLL_S, progress=self.on_progress,
                )
                break
            except LockedError:
                if self.stop_event.is_set():
                    return
                if self.state.status != "waiting":
                    log.info("another Lightfast process is writing to %s; waiting for it", service.home)
                    self._set(status="waiting")
            except LightfastError as exc:
                self._batch_failed(paths, str(exc))
                return
            except Exception as exc:  # our bug or a backend's; keep watching, the retry may succeed
                log.exception("watch batch failed")
                self._batch_failed(paths, f"{exc.__class__.__name__}: {exc}")
                return
        if self.stop_event.is_set():  # cancelled part-way: the next start catches up
            return
        self._retry, self._retry_delay = False, RETRY_S
        for store in report.stores:
            for path, why in store.failed:
                log.warning("%s: %s: %s", store.store, path, why)
            for path, why in store.skipped:
                log.info("%s: skipped %s: %s", store.store, path, why)
        with self._state_lock:
            s = self.state
            s.batches += 1
            s.last_batch_at = time.time()
            s.last_error = ""
            s.retry_pending = False
            s.last_summary = report.summary()
            s.status = "idle"
        self.on_state(self.state)
        self.on_batch(self.state, report)

    def _batch_failed(self, paths: set[str] | None, message: str) -> None:
        self._retry = None if paths is None else set(paths)
        self._retry_at = time.monotonic() + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, RETRY_MAX_S)
        with self._state_lock:
            self.state.retry_pending = True
        self._failed(message)

    def _failed(self, message: str) -> None:
        log.warning("watch: %s", message)
        self._set(status="error", last_error=message)
        self.on_batch(self.state, None)

    def _set(self, **changes) -> None:
        with self._state_lock:
            before = self.state.status
            for key, value in changes.items():
                setattr(self.state, key, value)
        if self.state.status != before:
            self.on_state(self.state)

    # -- configuration ------------------------------------------------------------------
    def _default_reload(self):
        from core.config import load_config
        from core.service import Lightfast

        old = self.service
        config = load_config(old.config.source_path)
        if config.environment == old.environment and config.profile() == old.profile:
            return Lightfast(config, old.home, backend=old.backend, embedder=old.embedder)
        return Lightfast(config, old.home)

    def _reload_config(self) -> bool:
        try:
            fresh = self.reload()
        except LightfastError as exc:
            self._failed(f"lightfast.yml not reloaded, keeping the previous one: {exc}")
            return False
        self.service = fresh
        self._ignores = None
        log.info("lightfast.yml reloaded: stores %s", ", ".join(s.slug for s in fresh.config.stores))
        self.on_reload(fresh)
        return True


def _stat(path: Path, own_output: set[tuple[int, int]] | None = None) -> dict[Path, tuple[int, int]]:
    try:
        st = path.stat()
    except OSError:
        return {}
    if own_output and (st.st_dev, st.st_ino) in own_output:
        return {}
    return {path: (st.st_size, st.st_mtime_ns)}


def _should_poll(force_polling: bool | None) -> bool:
    """watchfiles' own rule (WATCHFILES_FORCE_POLLING, or WSL), but polling with our poller."""
    if force_polling is not None:
        return force_polling
    env = os.environ.get("WATCHFILES_FORCE_POLLING")
    if env:
        return env.lower() not in {"false", "disable", "disabled"}
    import platform

    release = platform.uname().release.lower()
    return "microsoft-standard" in release
