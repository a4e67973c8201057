"""`lightfast watch`: re-ingest files as they change."""

from __future__ import annotations

import signal

import click
from rich.console import Console

err = Console(stderr=True, highlight=False)


@click.command()
@click.option("--step-ms", default=200, show_default=True, type=click.IntRange(10, 10000),
              help="Quiet time that ends a batch of changes.")
@click.option("--poll", is_flag=True, help="Poll the file system instead of using inotify.")
@click.pass_context
def watch(ctx, step_ms, poll) -> None:
    """Catch up with changes made while not watching, then keep the index in step with the repo.

    One line per applied batch goes to stderr. Ctrl-C or SIGTERM stops after the
    current file; the next start catches up with whatever changed meanwhile.
    """
    from core.watch import Watcher
    from lightfast_cli.main import open_service

    def report(state, _report) -> None:
        if state.status == "error":
            err.print(f"[red]error[/] {state.last_error}")
        else:
            err.print(f"batch {state.batches}: {state.last_summary}")

    watcher = Watcher(open_service(ctx), on_batch=report, step_ms=step_ms, force_polling=poll or None)
    signal.signal(signal.SIGTERM, lambda *_: watcher.stop_event.set())
    err.print(f"watching {watcher.service.root} (Ctrl-C to stop)")
    try:
        watcher.run()
    except KeyboardInterrupt:
        watcher.stop_event.set()
    err.print("stopped")
