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
from rich.markup import escape

from core.errors import InvalidArgumentError, LightfastError
from lightfast_cli.consoles import err, out


class LightfastGroup(click.Group):
    """Turns LightfastError into a clean message and exit code, once, for every command."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LightfastError as exc:
            err().print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False)
            if os.environ.get("LIGHTFAST_DEBUG"):
                raise
            sys.exit(exc.exit_code)


CONFIG_HELP = "lightfast.yml to use (default: $LIGHTFAST_CONFIG, or found from the working directory upwards)."


def _remember_config(ctx: click.Context, _param, value: str | None) -> None:
    """--config after a subcommand's name: the same as before it (the later one wins)."""
    if value is not None:
        obj = ctx.find_root().ensure_object(dict)
        obj["config"] = value
        obj["config_from_env"] = False


def add_config_option(command: click.Command) -> None:
    """Give command (and every subcommand below it) its own --config, as README promises."""
    if not any(isinstance(p, click.Option) and "--config" in p.opts for p in command.params):
        command.params.append(click.Option(
            ["--config", "-c"], type=click.Path(dir_okay=False), expose_value=False, is_eager=True,
            callback=_remember_config, help=CONFIG_HELP,
        ))
    for sub in getattr(command, "commands", {}).values():
        add_config_option(sub)


def open_service(ctx: click.Context):
    from core.service import Lightfast

    config = ctx.find_root().obj.get("config") if ctx.find_root().obj else None
    return Lightfast.open(Path(config) if config else None)


def config_path(ctx: click.Context) -> str | None:
    """The lightfast.yml named by --config or $LIGHTFAST_CONFIG, if any."""
    obj = ctx.find_root().obj or {}
    return obj.get("config")


def waiting_for(holder) -> None:
    """Said once when another process holds the writer lock and this one waits for it."""
    err().print(f"waiting for {holder.describe()}; Ctrl-C to stop", markup=False, highlight=False)


@click.group(cls=LightfastGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "-c", type=click.Path(dir_okay=False), envvar="LIGHTFAST_CONFIG", help=CONFIG_HELP)
@click.version_option(package_name="lightfast")
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """Lightfast: many document stores in one shared vector index, one namespace per store.

    Works offline on a local index and model by default; set `environment` in
    lightfast.yml to a Pinecone profile (with PINECONE_API_KEY and
    COHERE_API_KEY) to use the same commands against Pinecone and Cohere.
    State lives in $LIGHTFAST_HOME (default: the platform's user data dir).
    --config may come before or after the subcommand.

    Example usage:

    \b
        lightfast init && lightfast ingest
        lightfast search "how does ingest survive a kill"
        lightfast namespaces --config ~/src/api/lightfast.yml
    """
    obj = ctx.ensure_object(dict)
    obj["config"] = config
    obj["config_from_env"] = ctx.get_parameter_source("config") == click.core.ParameterSource.ENVIRONMENT


@cli.command()
@click.option("--organization", "-o", default=None, help="Organization id (default: 'local').")
@click.option("--workspace", "-w", default=None, help="Workspace id (default: the folder's name).")
@click.option("--force", is_flag=True, help="Overwrite an existing lightfast.yml.")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), required=False)
@click.pass_context
def init(ctx, organization: str | None, workspace: str | None, force: bool, directory: Path | None) -> None:
    """Write a lightfast.yml for the repo in DIRECTORY (default: here, or the file --config names).

    Example usage:

    \b
        lightfast init
        lightfast init ~/src/api --organization acme --workspace api
        lightfast init --config ~/src/api/lightfast.yml
    """
    from core.service import create_config

    obj = ctx.find_root().obj or {}
    named = None if obj.get("config_from_env") else obj.get("config")
    if named and directory is not None:
        raise InvalidArgumentError("give either DIRECTORY or --config, not both")
    target = Path(named).expanduser().resolve() if named else None
    directory = target.parent if target else (directory or Path(".")).resolve()
    target = create_config(directory, target=target, organization=organization, workspace=workspace, force=force)
    out().print(f"wrote {escape(str(target))}", crop=False)


@cli.command()
@click.option("--store", "-s", "stores", multiple=True, help="Only this store (repeatable).")
@click.option("--full", is_flag=True, help="Re-embed every file, not only new and changed ones.")
@click.option("--plan", "plan_only", is_flag=True, help="Show what would be embedded and its cost; embed nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (progress still goes to stderr).")
@click.option("--no-wait", is_flag=True, help="If another process is writing, exit 7 at once instead of waiting.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
@click.option("--force", is_flag=True,
              help="Remove documents even when more than half of a store's would go (refused otherwise).")
@click.option("--since", metavar="REV", default=None,
              help="Only what `git diff REV..HEAD` changed: added, modified, renamed and deleted files.")
@click.option("--until", metavar="REV", default=None,
              help="With --since: the range's end (default HEAD; must be what is checked out).")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_context
def ingest(ctx, stores, full, plan_only, as_json, no_wait, quiet, force, since, until, paths) -> None:
    """Ingest the repo (or only PATHS) into its stores' namespaces.

    Only new and changed files are chunked and embedded; vectors of changed
    and deleted files are removed. Safe to interrupt: the next run converges.
    PATHS are files or folders inside the repo (relative to the working
    directory). Progress goes to stderr: a bar per store on a terminal,
    otherwise a line per stage and at most one every 2 s. If another process
    is writing to the data dir, this one says which and waits (or, with
    --no-wait, exits 7). A run that would remove more than half of a store's
    documents (a typo in `root` or the globs, usually) is refused; --force
    removes them when the files really are gone. --since REV ingests exactly
    what git says changed since REV (for a CI job after each push).

    Example usage:

    \b
        lightfast ingest
        lightfast ingest --store docs docs/guide
        lightfast ingest --plan
        lightfast ingest --full --no-wait --json > report.json
        lightfast ingest --store docs --force
        lightfast ingest --since HEAD~1
        lightfast ingest --since v1.2.0 --until HEAD --json
    """
    if until and not since:
        raise InvalidArgumentError("--until needs --since (the range's start), e.g. --since v1.2.0 --until HEAD")
    if since and (paths or plan_only):
        raise InvalidArgumentError("--since chooses the files itself: give it without PATHS or --plan")
    service = open_service(ctx)
    if plan_only:
        from lightfast_cli.render import print_plan

        plan = service.plan(stores or None, full=full, force=force or None)
        if as_json:
            out().print_json(json.dumps(plan.to_dict()))
        else:
            print_plan(out(), plan)
        return
    from lightfast_cli.progress import ingest_progress
    from lightfast_cli.render import ingest_report_dict, print_ingest_report

    here = Path.cwd()  # PATHS are relative to the working directory; the root check is core's
    at_root = here.resolve() == service.root.resolve()
    given = [p if p.is_absolute() or at_root else here / p for p in paths] or None
    console = err()
    mode = "off" if quiet else ("bar" if console.is_terminal else "lines")
    options = dict(full=full, progress=None, lock_wait=0 if no_wait else None, force=force or None,
                   on_lock_wait=lambda holder: console.print(
                       f"waiting for {holder.describe()}; Ctrl-C to stop", markup=False, highlight=False))
    changes = None
    with ingest_progress(console, mode) as on_progress:
        options["progress"] = on_progress
        if since:
            report, changes = service.ingest_since(since, until, stores or None, **options)
        else:
            report = service.ingest(stores or None, paths=given, **options)
    if changes is not None:
        counts = ", ".join(f"{n} {what}" for what, n in sorted(changes.counts().items())) or "nothing"
        console.print(f"git {changes.since_sha[:12]}..{changes.until_sha[:12]}: {counts}",
                      markup=False, highlight=False, crop=False)
    for path in service.missing_paths(given or []):  # a deleted file's vectors go; a typo matches nothing
        console.print(f"note: {path} does not exist: only vectors indexed from it were removed",
                      markup=False, highlight=False, crop=False)
    if as_json:
        data = ingest_report_dict(report)
        if changes is not None:
            data["git"] = {"since": changes.since_sha, "until": changes.until_sha, "changes": changes.counts()}
        out().print_json(json.dumps(data))
    else:
        print_ingest_report(out(), report)


@cli.command()
@click.argument("query")
@click.option("--store", "-s", "stores", multiple=True, help="Search only this store (repeatable).")
@click.option("--workspace", "scope", flag_value="workspace", help="Search every store of this workspace.")
@click.option("--org", "scope", flag_value="organization", help="Search every store of this organization.")
@click.option("-k", "--top-k", default=10, show_default=True, type=click.IntRange(1, 100), help="Hits to return.")
@click.option("--path", "path_glob", default=None, help="Only hits whose path matches this glob, e.g. 'docs/**'.")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "lexical"]), default="hybrid", show_default=True,
              help="hybrid: meaning and exact words; dense: meaning only; lexical: words only.")
@click.option("--json", "as_json", is_flag=True, help="Print hits as JSON.")
@click.pass_context
def search(ctx, query, stores, scope, top_k, path_glob, mode, as_json) -> None:
    """Search QUERY in this repo's stores (default), its workspace, or its organization.

    Example usage:

    \b
        lightfast search "how does ingest survive a kill"
        lightfast search "retry policy" --store code -k 5 --path 'core/**'
        lightfast search "onboarding" --org --json
        lightfast search ensure_namespace --mode lexical
    """
    from lightfast_cli.render import print_search

    service = open_service(ctx)
    result = service.search(query, stores=stores or None, scope=scope or "store", top_k=top_k, path_glob=path_glob,
                            mode=mode)
    if as_json:
        out().print_json(json.dumps({
            "query": result.query, "mode": result.mode, "namespaces": result.namespaces, "failed": result.failed,
            "notes": result.notes, "hits": [h.to_dict() for h in result.hits],
        }))
    else:
        print_search(out(), result)
    if result.failed and not result.hits:
        sys.exit(5)


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--no-backend", is_flag=True, help="Only the mirror's records; do not ask the index.")
@click.pass_context
def namespaces(ctx, as_json, no_backend) -> None:
    """List this organization's namespaces: mirror records beside the index's own counts.

    Example usage:

    \b
        lightfast namespaces
        lightfast namespaces --json --no-backend
        lightfast namespaces delete docs --yes
    """
    if ctx.invoked_subcommand:
        return
    from lightfast_cli.render import print_namespaces

    rows = open_service(ctx).namespaces(with_backend=not no_backend)
    if as_json:
        out().print_json(json.dumps(rows, default=str))
    else:
        print_namespaces(out(), rows)


@namespaces.command("delete")
@click.argument("store")
@click.option("--remove-record", is_flag=True, help="Also remove the namespace record from the mirror.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--no-wait", is_flag=True, help="If another process is writing, exit 7 at once instead of waiting.")
@click.pass_context
def namespaces_delete(ctx, store, remove_record, yes, no_wait) -> None:
    """Delete every vector of STORE's namespace (the files stay; re-ingest restores it).

    Example usage:

    \b
        lightfast namespaces delete docs
        lightfast namespaces delete docs --remove-record --yes
    """
    service = open_service(ctx)
    record = service.store_namespace(store)
    if not yes:
        click.confirm(
            f"Delete all vectors of namespace '{record['namespace_name']}' "
            f"in index '{record['index_name']}'?", abort=True, err=True,
        )
    count = service.delete_namespace(store, remove_record=remove_record, lock_wait=0 if no_wait else None,
                                     on_lock_wait=waiting_for)
    # The count is the mirror's: what this data dir knew of. The index's own counts lag its writes.
    what = "deleted namespace and removed its record" if remove_record else "deleted namespace"
    out().print(f"{what} {escape(record['namespace_name'])} ({count:,} vectors known to the mirror)",
                crop=False)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def status(ctx, as_json) -> None:
    """Show the configuration, profile, data dir and each store's state.

    Example usage:

    \b
        lightfast status
        lightfast status --json --config ~/src/api/lightfast.yml
    """
    from lightfast_cli.render import print_status, status_dict

    data = status_dict(open_service(ctx))
    if as_json:
        out().print_json(json.dumps(data))
    else:
        print_status(out(), data)


def _register_faces() -> None:
    """Commands that live in their own modules (each imports its heavy parts lazily)."""
    from lightfast_cli.cmd_doctor import doctor
    from lightfast_cli.cmd_mcp import mcp
    from lightfast_cli.cmd_migrate import migrate

    from lightfast_cli.cmd_stats import cost, sql, stats, verify
    from lightfast_cli.cmd_tokens import tokens
    from lightfast_cli.cmd_tui import tui
    from lightfast_cli.cmd_watch import watch
    from lightfast_cli.cmd_webhook import webhook
    from lightfast_cli.cmd_check import check

    cli.add_command(tui)

    for command in (stats, sql, cost, verify):
        cli.add_command(command)

    cli.add_command(migrate)
    cli.add_command(doctor)
    cli.add_command(mcp)
    cli.add_command(tokens)
    cli.add_command(watch)
    cli.add_command(webhook)
    cli.add_command(check)
    add_config_option_everywhere()


def add_config_option_everywhere() -> None:
    for command in cli.commands.values():
        add_config_option(command)


_register_faces()


def main() -> None:
    cli(prog_name="lightfast")


if __name__ == "__main__":
    main()
