"""`lightfast webhook serve | connect | repos`: push-triggered ingest (core/webhook.py)."""

from __future__ import annotations

import json
import signal
import threading

import click
from rich.markup import escape

from lightfast_cli.consoles import err, out


def _service(ctx):
    from lightfast_cli.main import open_service

    return open_service(ctx)


@click.group()
def webhook() -> None:
    """Ingest each GitHub push to a connected repository as it happens.

    `connect` records this repo's clone as a GitHub repository; `serve` takes
    GitHub's signed push events, fetches the clone, moves it to the pushed
    commit (a force-push resets it) and ingests what changed.

    Example usage:

    \b
        lightfast webhook connect acme/api --branch main
        lightfast webhook serve --port 8787
        lightfast webhook repos --json
    """


@webhook.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (put a TLS proxy in front for GitHub to reach it).")
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True,
              help="Port to listen on (0: any free port; the line on stderr says which).")
@click.pass_context
def serve(ctx, host, port) -> None:
    """Serve GitHub push events until stopped (Ctrl-C or SIGTERM).

    The secret comes from LIGHTFAST_WEBHOOK_SECRET (refuses to start without
    it); a request without a valid X-Hub-Signature-256 gets 401, and a
    delivery id seen before is ignored. One line per delivery goes to stderr.

    Example usage:

    \b
        lightfast webhook serve
        lightfast webhook serve --host 0.0.0.0 --port 9000
    """
    from core.service import Lightfast, ingest_summary

    secret = Lightfast.webhook_secret()
    service = _service(ctx)
    console = err()

    def done(outcome) -> None:
        counts = f" ({ingest_summary(outcome.totals)})" if outcome.totals else ""
        console.print(f"delivery {outcome.delivery} {outcome.repository}: {outcome.status}: "
                      f"{outcome.detail}{counts}", markup=False, highlight=False, crop=False)

    server = service.webhook_server(secret, host, port, on_done=done)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        server.start()
        repos = service.connected_repositories()
        console.print(f"lightfast webhook listening on {server.url} for {len(repos)} connected "
                      f"repositor{'y' if len(repos) == 1 else 'ies'}; Ctrl-C to stop",
                      markup=False, highlight=False, crop=False)
        if not repos:
            console.print("note: no repository is connected yet: run `lightfast webhook connect OWNER/NAME` "
                          "in a clone", markup=False, highlight=False, crop=False)
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
        console.print("lightfast webhook stopped", markup=False, highlight=False)


@webhook.command("connect")
@click.argument("full_name")
@click.option("--branch", default=None, help="Branch whose pushes are ingested (default: the checked-out one).")
@click.option("--clone-url", default=None, help="The repository's URL (default: remote origin's).")
@click.pass_context
def connect(ctx, full_name, branch, clone_url) -> None:
    """Connect this repo's git clone as GitHub repository FULL_NAME (OWNER/NAME).

    Pushes to it are then fetched into this clone and ingested into this
    lightfast.yml's stores. Run `lightfast ingest` first: the clone's HEAD
    counts as ingested. Connecting again updates the record.

    Example usage:

    \b
        lightfast webhook connect acme/api
        lightfast webhook connect acme/api --branch main --clone-url https://github.com/acme/api.git
    """
    row = _service(ctx).connect_repository(full_name, branch, clone_url)
    out().print(f"connected {escape(row['full_name'])} (branch {escape(row['branch'])}): clone "
                f"{escape(row['clone_path'])}, ingested up to {(row['last_sha'] or '?')[:12]}", crop=False)


@webhook.command("repos")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def repos(ctx, as_json) -> None:
    """List the connected repositories of this data dir.

    Example usage:

    \b
        lightfast webhook repos
        lightfast webhook repos --json
    """
    from lightfast_cli.layout import print_rows

    rows = _service(ctx).connected_repositories()
    if as_json:
        out().print_json(json.dumps(rows))
        return
    print_rows(out(), ["repository", "branch", "last ingested", "clone"],
               [[r["full_name"], r["branch"], (r["last_sha"] or "")[:12], r["clone_path"]] for r in rows])
