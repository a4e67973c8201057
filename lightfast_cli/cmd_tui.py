"""`lightfast tui`: the terminal UI."""

from __future__ import annotations

import click


@click.command()
@click.pass_context
def tui(ctx) -> None:
    """Browse namespaces, search, ingest, watch, and see stats and cost in a terminal UI (press ? for keys)."""
    from lightfast_tui.__main__ import run

    run(ctx.obj.get("config"))
