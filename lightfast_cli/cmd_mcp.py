"""`lightfast mcp`: the MCP server for AI coding assistants."""

from __future__ import annotations

import click


@click.command()
@click.option("--http", is_flag=True, help="Serve streamable HTTP instead of stdio.")
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP bind address.")
@click.option("--port", default=8765, show_default=True, type=int, help="HTTP port.")
@click.option("--read-only", is_flag=True, help="Leave out the ingest tools.")
@click.option("--watch", is_flag=True, help="Also watch the repo and re-ingest changed files.")
@click.option("--tokens", "tokens_file", default=None, type=click.Path(dir_okay=False),
              help="Bearer tokens file for --http (default: $LIGHTFAST_HOME/tokens.json).")
@click.pass_context
def mcp(ctx, http, host, port, read_only, watch, tokens_file) -> None:
    """Serve search, read_chunk, ingest, ingest_status, list_namespaces and namespace_stats over MCP.

    stdio by default (what Claude Code, Claude Desktop and Cursor start); logs go to stderr.
    Over --http, while the tokens file holds any token (`lightfast tokens add`), every
    request needs one (401 otherwise) and sees only its workspaces; a --host that is not
    a loopback address is refused unless tokens exist.

    Example usage:

    \b
        lightfast mcp --config /path/to/repo/lightfast.yml
        lightfast mcp --http --port 8765 --read-only
        lightfast mcp --http --host 0.0.0.0 --tokens ~/.lightfast-tokens.json
        claude mcp add lightfast -- lightfast mcp --config /path/to/repo/lightfast.yml
    """
    from lightfast_cli.main import config_path
    from mcp_server.__main__ import serve

    serve(config_path(ctx), http=http, host=host, port=port, read_only=read_only, watch=watch,
          tokens=tokens_file)
