"""`lightfast stats`, `sql`, `cost` and `verify isolation`: monitoring and cost over the mirror."""

from __future__ import annotations

import json
import sys

import click
from rich.markup import escape
from rich.table import Table

from core.types import PRICES_AS_OF, Prices
from lightfast_cli.consoles import out as _out
from lightfast_cli.layout import fits, print_rows

_P = Prices()
_DATED = f"Pinecone Standard list price as of {PRICES_AS_OF}"


def _print_result(console, title: str, result) -> None:
    """A query's rows: a table when it fits the terminal, one block per row otherwise."""
    columns, rows = list(result.columns), [list(r) for r in result.rows]
    if len(columns) > 1 and columns[0] == "id":  # a row number heads no block: move it last
        columns = columns[1:] + columns[:1]
        rows = [r[1:] + r[:1] for r in rows]
    numeric = [c for i, c in enumerate(columns)
               if rows and all(isinstance(r[i], (int, float)) or r[i] is None for r in rows)]
    print_rows(console, columns, rows, title=title, right=numeric)


def _service(ctx):
    from lightfast_cli.main import open_service

    return open_service(ctx)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print every query's rows as JSON.")
@click.pass_context
def stats(ctx, as_json) -> None:
    """Dashboard figures from the mirror, through DuckDB.

    Namespaces per environment and stores per organization (the design's dashboard
    queries), namespaces against the plan's limit (`limits` in lightfast.yml), vectors
    and estimated storage per namespace, query latency p50/p95/p99 per namespace,
    read units billed (as Pinecone reported them) beside the estimate, ingest history
    and migration progress, and the billed usage Pinecone and Cohere reported ("n/a"
    on the local backend, which bills and reports nothing).

    Example usage:

    \b
        lightfast stats
        lightfast stats --json | jq '.namespace_limit'
    """
    out = _out()
    service = _service(ctx)
    limits = service.config.limits
    report = service.stats()
    results = report.tables
    if as_json:
        out.print_json(json.dumps({**{k: v.to_dicts() for k, v in results.items()},
                                   "billed_usage": report.billed_usage}, default=str))
        return
    for name, result in results.items():
        if result.rows or name not in ("migration_progress", "read_units"):
            _print_result(out, report.titles[name], result)
    out.print(f"[bold]Billed usage, as the services reported it ({escape(service.environment)})[/]",
              soft_wrap=False)
    for line in report.usage_lines:
        out.print(f"  {escape(line)}", soft_wrap=False)
    for row in results["namespace_limit"].to_dicts():
        if row["alert"]:
            out.print(f"[bold red]alert:[/] index {row['index_name']} ({row['environment']}) holds "
                      f"{row['namespaces']:,} namespaces, {row['used_share']:.0%} of the limit of "
                      f"{row['namespace_limit']:,}", soft_wrap=False)
    chain = report.index_chain
    if len(chain) > 1:  # limits.overflow: where this environment's new namespaces go
        out.print("overflow: " + " -> ".join(f"{n} ({index})" for n, index in chain), soft_wrap=False, markup=False)
        out.print(f"  new organizations: the first index under {limits.alert_threshold:.0%} of "
                  f"{limits.namespace_limit:,}", markup=False)
        out.print("  an organization stays in its index until that index is full", markup=False)


@click.command()
@click.argument("query")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
@click.pass_context
def sql(ctx, query, as_json) -> None:
    """Run one read-only DuckDB QUERY over the mirror's tables.

    Tables: namespaces, documents, vector_entries, pending_vectors, query_log,
    ingest_runs, stores, store_documents, store_vector_entries, migration_stores,
    connected_repositories, webhook_deliveries.
    SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE and EXPLAIN are allowed; writes, ATTACH,
    COPY, PRAGMA, SET, INSTALL/LOAD and file access are refused. The query runs on
    an in-memory copy, never on the mirror file.

    Example usage:

    \b
        lightfast sql "SELECT namespace_name, environment FROM namespaces"
        lightfast sql "SELECT path, chunk_count FROM documents ORDER BY chunk_count DESC LIMIT 5" --json
    """
    from core.service import Lightfast

    out = _out()
    Lightfast.check_sql(query)  # before opening anything
    result = _service(ctx).sql(query)
    if as_json:
        out.print_json(json.dumps(result.to_dicts(), default=str))
    else:
        _print_result(out, "", result)
        out.print(f"{len(result.rows):,} rows")


@click.command()
@click.option("--stores", type=click.IntRange(1), default=None,
              help="Stores to price (default: the design's scenarios, 1,000 to 50,000 stores of 10 GB).")
@click.option("--vectors-per-store", type=click.IntRange(1), default=100_000, show_default=True)
@click.option("--dimension", type=click.IntRange(1), default=1024, show_default=True)
@click.option("--metadata-bytes", type=click.IntRange(0), default=1_500, show_default=True,
              help="Metadata per record (chunk text and fields).")
@click.option("--queries-per-store", type=click.IntRange(0), default=10_000, show_default=True,
              help="Queries per store per month.")
@click.option("--upserts-per-store", type=click.IntRange(0), default=0, show_default=True,
              help="Records written per store per month.")
@click.option("--gb-per-store", type=click.FloatRange(0), default=None,
              help="Store size in GB (overrides the size computed from vectors).")
@click.option("--storage-price", type=click.FloatRange(0), default=_P.storage_per_gb_month, show_default=True,
              help=f"$ per GB-month ({_DATED}).")
@click.option("--read-price", type=click.FloatRange(0), default=_P.per_million_read_units, show_default=True,
              help=f"$ per million read units ({_DATED}).")
@click.option("--write-price", type=click.FloatRange(0), default=_P.per_million_write_units, show_default=True,
              help=f"$ per million write units ({_DATED}).")
@click.option("--minimum", type=click.FloatRange(0), default=_P.minimum_per_organization, show_default=True,
              help=f"$ minimum spend per organization per month ({_DATED}).")
@click.option("--indexes-per-project", type=click.IntRange(1), default=_P.indexes_per_project, show_default=True,
              help=f"Plan limit ({_DATED}).")
@click.option("--projects-per-org", type=click.IntRange(1), default=_P.projects_per_organization,
              show_default=True, help=f"Plan limit ({_DATED}).")
@click.option("--namespaces-per-index", type=click.IntRange(1), default=_P.namespaces_per_index,
              show_default=True, help=f"Plan limit ({_DATED}; the design's 25,000 dates from Dec 2024).")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def cost(ctx, stores, vectors_per_store, dimension, metadata_bytes, queries_per_store, upserts_per_store,
         gb_per_store, storage_price, read_price, write_price, minimum, indexes_per_project, projects_per_org,
         namespaces_per_index, as_json) -> None:
    """One index per store vs one shared index with namespaces, priced per month.

    Without --stores: the design's scenarios at its 10 GB per store (storage only, as
    in the design). With --stores: that workload. Either way, a last row prices this
    mirror's own stores, vectors per store and dimension. Each organization pays the
    larger of its minimum and its usage. Below the table: the read units, embed
    tokens and rerank units Pinecone and Cohere reported billing (from the query log
    and ingest history) beside the estimate, "n/a" where nothing reported them (the
    local backend), and notes on where the design's figures are out of date. On a narrow terminal each row becomes a block.

    Example usage:

    \b
        lightfast cost
        lightfast cost --stores 5000 --vectors-per-store 20000 --dimension 384
        lightfast cost --json
    """
    from core.service import Lightfast
    from core.types import Workload

    out = _out()
    prices = Prices(storage_per_gb_month=storage_price, per_million_read_units=read_price,
                    per_million_write_units=write_price, minimum_per_organization=minimum,
                    indexes_per_project=indexes_per_project, projects_per_organization=projects_per_org,
                    namespaces_per_index=namespaces_per_index)
    changed = [f for f in ("storage_per_gb_month", "per_million_read_units", "per_million_write_units",
                           "minimum_per_organization", "indexes_per_project", "projects_per_organization",
                           "namespaces_per_index") if getattr(prices, f) != getattr(_P, f)]
    if stores:
        rows = Lightfast.compare_costs(prices, Workload(
            stores, vectors_per_store, dimension, metadata_bytes, queries_per_store_month=queries_per_store,
            upserts_per_store_month=upserts_per_store, gb_per_store=gb_per_store))
        title = f"{stores:,} stores of {_size(rows[0]['store_gb'])}, {queries_per_store:,} queries each a month"
    else:
        rows = Lightfast.compare_costs(prices)
        title = "the design's scenarios: 10 GB per store, storage only"
    figures, usage = _mirror_figures(ctx)
    mirror_row = None
    if figures:
        mirror_row = Lightfast.compare_costs(prices, Workload(
            figures["stores"], figures["vectors_per_store"], figures["dimension"], figures["metadata_bytes"],
            queries_per_store_month=figures["queries_per_store_month"] or queries_per_store,
            upserts_per_store_month=upserts_per_store))[0]
    if as_json:
        out.print_json(json.dumps({"prices": prices.__dict__, "overridden": changed, "rows": rows,
                                   "this_mirror": {"figures": figures, "cost": mirror_row,
                                                   "billed_usage": usage},
                                   "corrections": Lightfast.cost_corrections(prices)}))
        return
    out.print(f"prices: ${prices.storage_per_gb_month}/GB-month, ${prices.per_million_read_units}/M read units, "
              f"${prices.per_million_write_units}/M write units, ${prices.minimum_per_organization:,.0f} minimum "
              f"per organization; {prices.indexes_per_project} indexes per project, "
              f"{prices.projects_per_organization} projects per organization, "
              f"{prices.namespaces_per_index:,} namespaces per index", soft_wrap=False)
    out.print(f"  as of {prices.as_of}, from {prices.source}"
              + (f"; overridden: {', '.join(changed)}" if changed else ""), soft_wrap=False)
    _print_cost(out, title, rows + ([mirror_row] if mirror_row else []), bool(mirror_row))
    if figures:
        observed = figures["queries_per_store_month"]
        out.print(f"last row, this mirror: {figures['stores']:,} stores, {figures['vectors_per_store']:,} vectors "
                  f"per store, {figures['dimension']}-d, ~{figures['metadata_bytes']:,} metadata bytes per record, "
                  + (f"{observed:,} queries per store a month (from the query log)" if observed is not None
                     else f"{queries_per_store:,} queries per store a month (assumed; the query log spans < 1 day)"),
                  soft_wrap=False)
    else:
        out.print("no mirror figures: no namespace has been ingested yet here")
    if usage is not None:
        out.print("billed usage reported by the services, beside the estimate (this mirror):", soft_wrap=False)
        for line in Lightfast.usage_lines(usage):
            out.print(f"  {escape(line)}", soft_wrap=False)
    if not stores:
        out.print("the design's own minimums (projects x $50; shared: 1 project, 2 past 25,000 stores): "
                  + "; ".join(f"{r['workload']['stores']:,}: {r['design_claim']['projects']:,} projects "
                              f"${r['design_claim']['minimum']:,.0f} vs ${r['design_claim']['shared_minimum']:,.0f}"
                              for r in rows), soft_wrap=False)
    for line in Lightfast.cost_corrections(prices):
        out.print(f"[yellow]note:[/] {escape(line)}", soft_wrap=False)


def _print_cost(console, title: str, rows: list[dict], mirror_last: bool) -> None:
    """The comparison as a table when it fits, else one block per scenario."""
    table = _cost_table(title, rows, mirror_last)
    if fits(console, table):
        console.print(table, crop=False)
        return
    console.print(f"[bold]{escape(title)}[/]", soft_wrap=False)
    for n, r in enumerate(rows):
        mirror = " (this mirror)" if mirror_last and n == len(rows) - 1 else ""
        console.print(f"[bold]{r['workload']['stores']:,} stores{mirror}[/] of {_size(r['store_gb'])}: "
                      f"usage ${r['usage']['total']:,.2f}/mo, saved ${r['savings']:,.2f}/mo", soft_wrap=False)
        console.print(f"  {'':<10} {'indexes':>8} {'projects':>9} {'orgs':>6} {'floors $':>10} {'bill $/mo':>13}",
                      style="dim")
        for name, x in (("per store", r["per_store"]), ("shared", r["shared"])):
            console.print(f"  {name:<10} {x['indexes']:>8,} {x['projects']:>9,} {x['organizations']:>6,} "
                          f"{x['floors']:>10,.0f} {x['monthly']:>13,.2f}")


def _cost_table(title: str, rows: list[dict], mirror_last: bool) -> Table:
    table = Table(title=title, title_justify="left", padding=(0, 1))
    table.add_column("stores", justify="right")
    table.add_column("size each", justify="right")
    table.add_column("usage $/mo", justify="right")
    table.add_column("per store: idx / proj / org", justify="right")
    table.add_column("floors $", justify="right")
    table.add_column("bill $/mo", justify="right")
    table.add_column("shared: idx / proj / org", justify="right")
    table.add_column("floors $", justify="right")
    table.add_column("bill $/mo", justify="right")
    table.add_column("saved $/mo", justify="right")
    for n, r in enumerate(rows):
        a, b = r["per_store"], r["shared"]
        label = f"{r['workload']['stores']:,}" + (" (mirror)" if mirror_last and n == len(rows) - 1 else "")
        table.add_row(label, _size(r["store_gb"]), f"{r['usage']['total']:,.2f}",
                      f"{a['indexes']:,} / {a['projects']:,} / {a['organizations']:,}", f"{a['floors']:,.0f}",
                      f"{a['monthly']:,.2f}",
                      f"{b['indexes']:,} / {b['projects']:,} / {b['organizations']:,}", f"{b['floors']:,.0f}",
                      f"{b['monthly']:,.2f}", f"{r['savings']:,.2f}")
    return table


def _size(gb: float) -> str:
    for unit, scale in (("GB", 1.0), ("MB", 1e-3), ("KB", 1e-6)):
        if gb >= scale:
            return f"{gb / scale:,.3g} {unit}"
    return f"{gb * 1e9:,.0f} B"


def _mirror_figures(ctx) -> tuple[dict | None, dict | None]:
    """This mirror's stores, vectors per store and dimension, and the usage the services reported
    billing: the configured environment's when a lightfast.yml is found, else every environment
    of the mirror in $LIGHTFAST_HOME (if any)."""
    from core.errors import ConfigError
    from core.service import Lightfast

    try:
        service = _service(ctx)
    except ConfigError:
        if ctx.obj and ctx.obj.get("config"):
            raise  # a lightfast.yml was named and is wrong: say so
        return Lightfast.home_cost_figures()
    return service.cost_figures()


@click.group()
def verify() -> None:
    """Checks that exit non-zero when something is wrong.

    Example usage:

    \b
        lightfast verify isolation --sample 20
    """


@verify.command("isolation")
@click.option("--sample", type=click.IntRange(1), default=None, help="Check only N namespaces, chosen at random (default: all).")
@click.option("--wait", type=click.FloatRange(0), default=None,
              help="Seconds a canary may take to become visible (default: 30 on Pinecone, 0 locally).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def verify_isolation_cmd(ctx, sample, wait, as_json) -> None:
    """Write a canary record into each namespace, query each, and report any hit from another
    namespace (the design's cross-namespace contamination alert). Canaries are removed
    afterwards, also on error or Ctrl-C. Exits 1 on contamination or an unverified namespace.

    Example usage:

    \b
        lightfast verify isolation
        lightfast verify isolation --sample 50 --wait 60
        lightfast verify isolation --json
    """
    out = _out()
    report = _service(ctx).verify_isolation(sample=sample, wait=wait)
    if as_json:
        out.print_json(json.dumps({"ok": report.ok, "namespaces": report.namespaces, "queries": report.queries,
                                   "contaminations": report.contaminations, "unverified": report.unverified,
                                   "leftovers": report.leftovers}))
        if not report.ok:
            sys.exit(1)
        return
    for line in report.contaminations:
        out.print(f"[bold red]contamination[/] {line}")
    for ns in report.unverified:
        out.print(f"[yellow]unverified[/] {ns}: its own canary never came back")
    for line in report.leftovers:
        out.print(f"[yellow]canary left behind[/] {line} (delete it by hand)")
    out.print(f"{len(report.namespaces)} namespaces, {report.queries} queries, "
              f"{len(report.contaminations)} cross-namespace hits, {len(report.unverified)} unverified")
    if not report.ok:
        sys.exit(1)
