"""`lightfast`: the command line face over core.service.

Errors a user can cause (LightfastError) print one line to stderr and exit
with the error's code; progress goes to stderr, results to stdout, so
`--json` output can be piped.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
from rich.console import Console

from core.errors import LightfastError

err = Console(stderr=True, highlight=False, soft_wrap=True)  # one error, one line
out = Console(highlight=False, soft_wrap=True)


class LightfastGroup(click.Group):
    """Turns LightfastError into a clean message and exit code, once, for every command."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LightfastError as exc:
            err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
            if os.environ.get("LIGHTFAST_DEBUG"):
                raise
            sys.exit(exc.exit_code)


def open_service(ctx: click.Context):
    from core.service import Lightfast

    config = ctx.obj.get("config") if ctx.obj else None
    return Lightfast.open(Path(config) if config else None)


@click.group(cls=LightfastGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config", "-c", type=click.Path(dir_okay=False), envvar="LIGHTFAST_CONFIG",
    help="lightfast.yml to use (default: found from the working directory upwards).",
)
@click.version_option(package_name="lightfast")
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """Lightfast: many document stores in one shared vector index, one namespace per store.

    Works offline on a local index and model by default; set `environment` in
    lightfast.yml to a Pinecone profile (with PINECONE_API_KEY and
    COHERE_API_KEY) to use the same commands against Pinecone and Cohere.
    State lives in $LIGHTFAST_HOME (default: the platform's user data dir).
    """
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


@cli.command()
@click.option("--organization", "-o", default=None, help="Organization id (default: the folder's parent name or 'local').")
@click.option("--workspace", "-w", default=None, help="Workspace id (default: the folder's name).")
@click.option("--force", is_flag=True, help="Overwrite an existing lightfast.yml.")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
def init(organization: str | None, workspace: str | None, force: bool, directory: Path) -> None:
    """Write a lightfast.yml for the repo in DIRECTORY (default: here)."""
    from core.config import CONFIG_FILENAME, default_config_text, load_config

    directory = directory.resolve()
    target = directory / CONFIG_FILENAME
    if target.exists() and not force:
        raise LightfastError(f"{target} already exists; pass --force to overwrite it")
    org = organization or "local"
    ws = workspace or directory.name or "main"
    stores = [
        ("docs", ["**/*.md", "**/*.mdx", "**/*.rst", "**/*.txt"]),
        ("code", ["**/*.py", "**/*.js", "**/*.ts", "**/*.tsx", "**/*.go", "**/*.rs",
                  "**/*.java", "**/*.rb", "**/*.c", "**/*.h", "**/*.cpp", "**/*.sh"]),
    ]
    target.write_text(default_config_text(org, ws, stores), encoding="utf-8")
    load_config(target)  # what we write must load
    out.print(f"wrote {target}")


@cli.command()
@click.option("--store", "-s", "stores", multiple=True, help="Only this store (repeatable).")
@click.option("--full", is_flag=True, help="Re-embed every file, not only new and changed ones.")
@click.option("--plan", "plan_only", is_flag=True, help="Show what would be embedded and its cost; embed nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_context
def ingest(ctx, stores, full, plan_only, as_json, paths) -> None:
    """Ingest the repo (or only PATHS) into its stores' namespaces.

    Only new and changed files are chunked and embedded; vectors of changed
    and deleted files are removed. Safe to interrupt: the next run converges.
    """
    service = open_service(ctx)
    if plan_only:
        from core.plan import plan_ingest
        from lightfast_cli.render import print_plan

        plan = plan_ingest(service, stores or None, full=full)
        if as_json:
            out.print_json(json.dumps(plan.to_dict()))
        else:
            print_plan(out, plan)
        return
    from lightfast_cli.render import ingest_progress, print_ingest_report

    with ingest_progress(err, enabled=not as_json and err.is_terminal) as on_progress:
        report = service.ingest(stores or None, full=full, paths=list(paths) or None, progress=on_progress)
    if as_json:
        out.print_json(json.dumps({
            "seconds": round(report.seconds, 3), "totals": report.totals(),
            "stores": [{**r.counts(), "store": r.store, "namespace": r.namespace,
                        "skipped_files": r.skipped, "failed_files": r.failed} for r in report.stores],
        }))
    else:
        print_ingest_report(out, report)


@cli.command()
@click.argument("query")
@click.option("--store", "-s", "stores", multiple=True, help="Search only this store (repeatable).")
@click.option("--workspace", "scope", flag_value="workspace", help="Search every store of this workspace.")
@click.option("--org", "scope", flag_value="organization", help="Search every store of this organization.")
@click.option("-k", "--top-k", default=10, show_default=True, type=click.IntRange(1, 100), help="Hits to return.")
@click.option("--path", "path_glob", default=None, help="Only hits whose path matches this glob, e.g. 'docs/**'.")
@click.option("--json", "as_json", is_flag=True, help="Print hits as JSON.")
@click.pass_context
def search(ctx, query, stores, scope, top_k, path_glob, as_json) -> None:
    """Search QUERY in this repo's stores (default), its workspace, or its organization."""
    from lightfast_cli.render import print_search

    service = open_service(ctx)
    result = service.search(query, stores=stores or None, scope=scope or "store", top_k=top_k, path_glob=path_glob)
    if as_json:
        out.print_json(json.dumps({
            "query": result.query, "namespaces": result.namespaces, "failed": result.failed,
            "hits": [h.to_dict() for h in result.hits],
        }))
    else:
        print_search(out, result)
    if result.failed and not result.hits:
        sys.exit(5)


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--no-backend", is_flag=True, help="Only the mirror's records; do not ask the index.")
@click.pass_context
def namespaces(ctx, as_json, no_backend) -> None:
    """List this organization's namespaces: mirror records beside the index's own counts."""
    if ctx.invoked_subcommand:
        return
    from lightfast_cli.render import print_namespaces

    rows = open_service(ctx).namespaces(with_backend=not no_backend)
    if as_json:
        out.print_json(json.dumps(rows, default=str))
    else:
        print_namespaces(out, rows)


@namespaces.command("delete")
@click.argument("store")
@click.option("--remove-record", is_flag=True, help="Also remove the namespace record from the mirror.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def namespaces_delete(ctx, store, remove_record, yes) -> None:
    """Delete every vector of STORE's namespace (the files stay; re-ingest restores it)."""
    service = open_service(ctx)
    record = next((r for r in service.namespace_records("store", [store])), None)
    if record is None:
        raise LightfastError(f"store '{store}' has no namespace yet")
    if not yes:
        click.confirm(
            f"Delete all vectors of namespace '{record['namespace_name']}' "
            f"in index '{record['index_name']}'?", abort=True, err=True,
        )
    count = service.delete_namespace(store, remove_record=remove_record)
    out.print(f"deleted {count} vectors from {record['namespace_name']}")


@cli.command()
@click.pass_context
def status(ctx) -> None:
    """Show the configuration, profile, data dir and each store's state."""
    from lightfast_cli.render import print_status

    print_status(out, open_service(ctx))


def _register_faces() -> None:
    """Commands that live in their own modules (each imports its heavy parts lazily)."""
    from lightfast_cli.cmd_mcp import mcp
    from lightfast_cli.cmd_migrate import migrate

    from lightfast_cli.cmd_stats import cost, sql, stats, verify
    from lightfast_cli.cmd_tui import tui
    from lightfast_cli.cmd_watch import watch

    cli.add_command(tui)

    for command in (stats, sql, cost, verify):
        cli.add_command(command)

    cli.add_command(migrate)
    cli.add_command(mcp)
    cli.add_command(watch)


_register_faces()


def main() -> None:
    cli(prog_name="lightfast")


if __name__ == "__main__":
    main()
