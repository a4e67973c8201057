"""`lightfast watch`: re-ingest files as they change (a thin face over core.watch.Watcher)."""

from __future__ import annotations

import logging
import os
import signal
import time

import click
from rich.markup import escape

from lightfast_cli.consoles import err as _err

#: Per-file lines (skipped or failed) printed under one batch before "... and N more".
MAX_FILE_LINES = 10


@click.command()
@click.option("--debounce-ms", "--step-ms", "debounce_ms", default=200, show_default=True,
              type=click.IntRange(10, 60_000), help="Quiet time that ends a batch of changes.")
@click.option("--max-batch-ms", default=5000, show_default=True, type=click.IntRange(100, 600_000),
              help="Longest a never-quiet burst of changes is gathered before it is applied.")
@click.option("--poll", is_flag=True,
              help="Poll the file system instead of using inotify/FSEvents (network drives, containers).")
@click.option("--poll-ms", default=300, show_default=True, type=click.IntRange(20, 60_000),
              help="With --poll: how often the repo's files are checked.")
@click.pass_context
def watch(ctx, debounce_ms: int, max_batch_ms: int, poll: bool, poll_ms: int) -> None:
    """Catch up with changes made while not watching, then keep the index in step with the repo.

    Watches the repo root; only files a store includes (and .gitignore does
    not exclude) count. Changed files are re-embedded, deleted ones removed;
    an edit to lightfast.yml reloads it (an invalid edit is reported and the
    old configuration kept). One line per applied batch goes to stderr.
    Ctrl-C or SIGTERM stops after the current file; the next start catches up
    with whatever changed meanwhile. Several watchers, MCP servers and TUIs
    may share a data dir: one writes at a time, the others wait and reuse its
    work.

    Example usage:

    \b
        lightfast watch
        lightfast watch --poll --poll-ms 1000
        lightfast watch --step-ms 500 --config ~/src/api/lightfast.yml
    """
    from lightfast_cli.main import open_service

    _quiet_core_logging()
    err = _err()

    first = [True]

    def on_batch(state, report) -> None:
        stamp = time.strftime("%H:%M:%S")
        if report is None:
            err.print(f"{stamp} [red]error[/] {escape(state.last_error)}"
                      + (" (will retry)" if state.retry_pending else ""))
            return
        what = "caught up" if first[0] else f"batch {state.batches}"
        first[0] = False
        where = _paths_label(state.last_paths)
        err.print(f"{stamp} {what}{where}: {state.last_summary} in {report.seconds:.2f} s")
        lines = [(kind, s.store, path, why) for s in report.stores
                 for kind, items in (("failed", s.failed), ("skipped", s.skipped)) for path, why in items]
        for kind, store, path, why in lines[:MAX_FILE_LINES]:
            err.print(f"  {kind} {escape(store)}:{escape(path)}: {escape(why)}")
        if len(lines) > MAX_FILE_LINES:
            err.print(f"  ... and {len(lines) - MAX_FILE_LINES} more")

    def on_state(state) -> None:
        if state.status == "waiting":
            err.print(f"{time.strftime('%H:%M:%S')} waiting: another Lightfast process is writing to this data dir")

    def on_reload(service) -> None:
        stores = ", ".join(s.slug for s in service.config.stores)
        err.print(f"{time.strftime('%H:%M:%S')} lightfast.yml reloaded (stores: {escape(stores)})")

    watcher = open_service(ctx).watcher(on_batch=on_batch, on_state=on_state, on_reload=on_reload,
                      debounce_ms=debounce_ms, max_batch_ms=max_batch_ms, force_polling=True if poll else None,
                      poll_delay_ms=poll_ms)

    def stop(signum, _frame) -> None:
        if watcher.stop_event.is_set():  # a second Ctrl-C: abandon the batch now
            raise KeyboardInterrupt
        watcher.stop_event.set()
        err.print("stopping after the current file (Ctrl-C again to abandon it)")

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    err.print(f"watching {escape(str(watcher.service.root))} (Ctrl-C to stop)")
    try:
        watcher.run()
    except KeyboardInterrupt:
        pass  # ingest's journal makes an abandoned batch converge on the next run
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    err.print("stopped")


def _paths_label(paths: list[str]) -> str:
    if not paths:
        return ""
    if len(paths) <= 3:
        return " (" + ", ".join(escape(p) for p in paths) + ")"
    return f" ({escape(paths[0])} and {len(paths) - 1} more)"


def _quiet_core_logging() -> None:
    """This command prints every batch itself; core's log lines stay out of the way unless debugging."""
    logger = logging.getLogger("lightfast.watch")
    if os.environ.get("LIGHTFAST_DEBUG"):
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        return
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
