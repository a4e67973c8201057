"""`lightfast doctor`: check the mirror against the index, and repair what it finds."""

from __future__ import annotations

import json
import sys

import click

from lightfast_cli.consoles import out as _out
from lightfast_cli.layout import say


@click.command()
@click.option("--repair", is_flag=True,
              help="Repair this repo's stores: move damaged files aside, rebuild, re-ingest.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def doctor(ctx, repair: bool, as_json: bool) -> None:
    """Check that the index holds every vector the mirror lists, per namespace.

    Reports each namespace as healthy, vectors missing (N of M), index
    namespace missing, not in mirror, stale vectors or damaged (with the
    file), and a damaged mirror.sqlite or index.json. Exits 0 when all is
    healthy, 1 when something is wrong. --repair moves damaged files aside
    (never deletes them), rebuilds the mirror from the index's metadata,
    re-ingests what is missing, then checks again.

    Example usage:

    \b
        lightfast doctor
        lightfast doctor --repair
        lightfast doctor --json | jq '.problems'
    """
    from lightfast_cli.main import open_service, waiting_for

    report = open_service(ctx).doctor(repair=repair, on_lock_wait=waiting_for)
    if as_json:
        _out().print_json(json.dumps(report.to_dict()))
    else:
        print_report(_out(), report)
    if not report.healthy:
        sys.exit(1)


def print_report(console, report) -> None:
    kind = "ids and vectors compared" if report.by_id else "counts compared, and the word index by id"
    say(console, f"mirror {report.mirror}", "bold")
    if report.mirror_error:
        say(console, f"unreadable: {report.mirror_error}", "red", "  ")
    say(console, f"index {report.index} ({kind})", "bold")
    if report.index_error:
        say(console, f"damaged: {report.index_error}", "red", "  ")
    for ns in report.namespaces:
        say(console, f"{ns.store or 'another repo'} → {ns.namespace}", "bold")
        say(console, ns.describe(), "green" if ns.ok else "red", "  ")
        if not ns.ok:
            say(console, ns.remedy(), "", "  ")
    for note in report.repairs:
        say(console, f"repaired {note}", "yellow")
    if report.healthy:
        console.print("all healthy", highlight=False)
    else:
        n = report.problems
        console.print(f"{n} problem{'s' * (n != 1)}" + ("" if report.repairs else
                      "; run `lightfast doctor --repair`"), highlight=False, crop=False)
