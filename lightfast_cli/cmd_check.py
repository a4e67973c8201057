"""`lightfast check`: alerts that exit non-zero, for cron and CI (core/checks.py)."""

from __future__ import annotations

import json
import sys

import click
from rich.markup import escape

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
        for finding in report.findings:
            mark = "[green]ok[/]   " if finding.ok else "[bold red]ALERT[/]"
            out.print(f"{mark} {finding.check}: {escape(finding.message)}", soft_wrap=False)
        for line in report.skipped:
            out.print(f"[dim]skip[/]  {escape(line)}", soft_wrap=False)
        alerts = len(report.alerts)
        out.print(f"{len(report.findings)} checks, {alerts} alert{'s' * (alerts != 1)}", soft_wrap=False)
    if not report.ok:
        sys.exit(1)
