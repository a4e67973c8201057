"""`lightfast tokens`: bearer tokens for the HTTP MCP server (add, list, revoke)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.markup import escape

from core.errors import ConfigError, InvalidArgumentError
from lightfast_cli.consoles import err, out
from lightfast_cli.layout import print_rows

TOKENS_HELP = "Tokens file (default: $LIGHTFAST_HOME/tokens.json)."


def _path(tokens: str | None) -> Path:
    from core.service import Lightfast

    return Lightfast.tokens_path(tokens)


def _organization(ctx: click.Context, given: str | None) -> str:
    """--organization, else the organization of the lightfast.yml in force."""
    if given:
        return given
    from core.service import Lightfast
    from lightfast_cli.main import config_path

    named = config_path(ctx)
    try:
        return Lightfast.config_organization(Path(named) if named else None)
    except ConfigError as exc:
        raise InvalidArgumentError(f"give --organization, or run where a lightfast.yml is found ({exc})") from None


@click.group()
def tokens() -> None:
    """Bearer tokens for `lightfast mcp --http`: each token may read (and, unless read-only,
    ingest) the workspaces it names, in one organization.

    Only the token's SHA-256 is stored; the token is printed once, by `add`. While the
    tokens file holds any token, the HTTP server answers 401 to a request without a
    valid one; a running server sees an added or revoked token at its next request.

    Example usage:

    \b
        lightfast tokens add --workspace web --read-only
        lightfast tokens list
        lightfast tokens revoke tok_1a2b3c4d
    """


@tokens.command("add")
@click.option("--workspace", "-w", "workspaces", multiple=True, required=True,
              help="A workspace the token may use (repeatable).")
@click.option("--organization", "-o", default=None, help="Organization (default: lightfast.yml's).")
@click.option("--read-only", is_flag=True, help="Search and read only: no ingest.")
@click.option("--label", default="", help="A note saying whom the token is for.")
@click.option("--tokens", "tokens_file", default=None, type=click.Path(dir_okay=False), help=TOKENS_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the token and its entry as JSON.")
@click.pass_context
def add(ctx, workspaces, organization, read_only, label, tokens_file, as_json) -> None:
    """Make a token; print it once (stdout) and store only its hash.

    Example usage:

    \b
        lightfast tokens add --workspace web
        lightfast tokens add --workspace web --workspace api --read-only --label ci
        lightfast tokens add --workspace web --json
    """
    from core.service import Lightfast

    path = _path(tokens_file)
    token, entry = Lightfast.add_token(path, _organization(ctx, organization), workspaces, read_only, label)
    if as_json:
        out().print_json(json.dumps({"token": token, "id": entry.id, "organization": entry.organization,
                                     "workspaces": entry.workspaces, "read_only": entry.read_only,
                                     "tokens_file": str(path)}))
        return
    mode = "read-only" if read_only else "read-write"
    console = err()
    console.print(f"{entry.id}: {entry.organization}, workspaces {', '.join(entry.workspaces)} ({mode})",
                  markup=False, crop=False)
    console.print(f"stored as a hash in {path}", markup=False, crop=False)
    console.print("the token, shown this once:", markup=False)
    out().print(token, markup=False, crop=False, soft_wrap=True)


@tokens.command("list")
@click.option("--tokens", "tokens_file", default=None, type=click.Path(dir_okay=False), help=TOKENS_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def list_tokens(tokens_file, as_json) -> None:
    """List tokens: id, organization, workspaces, read-only, label (never the token).

    Example usage:

    \b
        lightfast tokens list
        lightfast tokens list --json
    """
    from core.service import Lightfast

    path = _path(tokens_file)
    entries = Lightfast.list_tokens(path)
    if as_json:
        out().print_json(json.dumps([{k: v for k, v in vars(e).items() if k != "sha256"} for e in entries]))
        return
    print_rows(out(), ("id", "organization", "workspaces", "mode", "label", "created"),
               [(e.id, e.organization, ", ".join(e.workspaces), "read-only" if e.read_only else "read-write",
                 e.label, e.created_at) for e in entries])
    err().print(f"{len(entries)} token{'s' * (len(entries) != 1)} in {escape(str(path))}", crop=False)


@tokens.command("revoke")
@click.argument("token_id")
@click.option("--tokens", "tokens_file", default=None, type=click.Path(dir_okay=False), help=TOKENS_HELP)
def revoke(token_id, tokens_file) -> None:
    """Remove TOKEN_ID (from `tokens list`); a running server refuses it from its next request.

    Example usage:

    \b
        lightfast tokens revoke tok_1a2b3c4d
    """
    from core.service import Lightfast

    entry = Lightfast.revoke_token(_path(tokens_file), token_id)
    out().print(f"revoked {escape(entry.id)} ({escape(entry.organization)}: "
                f"{escape(', '.join(entry.workspaces))})", crop=False)
