"""`lightfast tui`: the terminal UI."""

from __future__ import annotations

import click


@click.command()
@click.pass_context
def tui(ctx) -> None:
    """Browse namespaces, search, ingest, watch, and see stats and cost in a terminal UI (press ? for keys).

    Example usage:

    \b
        lightfast tui
        lightfast tui --config ~/src/api/lightfast.yml
    """
    from lightfast_cli.main import config_path
    from lightfast_tui.__main__ import run

    run(config_path(ctx))
