"""`lightfast check`: alerts that exit non-zero, for cron and CI (core/checks.py)."""

from __future__ import annotations

import json
import sys
import textwrap

import click
from rich.markup import escape
from rich.text import Text

from lightfast_cli.consoles import out as _out


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (exit code as without it).")
@click.option("--no-canary", is_flag=True, help="Skip the isolation canary (it writes and removes records).")
@click.option("--no-backend", is_flag=True, help="Count namespaces from the mirror only; do not ask the index.")
@click.pass_context
def check(ctx, as_json, no_canary, no_backend) -> None:
    """Check the alerts' thresholds; exit 1 when any is crossed.

    Namespaces per index against `limits` (namespace_limit x alert_threshold);
    p95 query latency per namespace against `check.latency_budget_ms` and
    against its own previous window (x `check.degradation_factor`); stores
    whose last ingest failed or was interrupted; and the isolation canary.
    Thresholds live in lightfast.yml under `check:` and `limits:`. Exit codes:
    0 all within thresholds, 1 an alert, others as every command's errors.

    Example usage:

    \b
        lightfast check
        lightfast check --json --no-canary
        lightfast check --no-backend || notify-team
    """
    from lightfast_cli.main import open_service

    report = open_service(ctx).check(canary=False if no_canary else None, with_backend=not no_backend)
    out = _out()
    if as_json:
        out.print_json(json.dumps(report.to_dict(), default=str))
    else:
        rows = [("[green]ok[/]" if f.ok else "[bold red]ALERT[/]", f"{f.check}: {f.message}") for f in report.findings]
        rows += [("[dim]skip[/]", line) for line in report.skipped]
        for mark, text in rows:
            # A long message wraps under its own text, not under the mark.
            lines = textwrap.wrap(text, max(out.width - 6, 20), break_on_hyphens=False) or [""]
            out.print(f"{mark}{' ' * (6 - len(Text.from_markup(mark)))}{escape(lines[0])}", soft_wrap=True)
            for more in lines[1:]:
                out.print(" " * 6 + escape(more), soft_wrap=True)
        alerts = len(report.alerts)
        out.print(f"{len(report.findings)} checks, {alerts} alert{'s' * (alerts != 1)}", soft_wrap=False)
    if not report.ok:
        sys.exit(1)
