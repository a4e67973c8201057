"""`lightfast stats`, `sql`, `cost` and `verify isolation`: monitoring and cost with DuckDB."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console
from rich.table import Table

out = Console(highlight=False)


def _table(title: str, result) -> Table:
    table = Table(title=title, title_justify="left")
    for col in result.columns:
        table.add_column(col)
    for row in result.rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def stats(ctx, as_json) -> None:
    """Dashboard figures from the mirror: namespaces per environment, stores per organization,
    the namespace limit, storage, query latency p50/p95/p99 and ingest history."""
    from core.stats import named_queries, run_named
    from lightfast_cli.main import open_service

    service = open_service(ctx)
    limits = service.config.limits
    results = run_named(service.mirror, limits.namespace_limit, limits.alert_threshold)
    if as_json:
        out.print_json(json.dumps({k: v.to_dicts() for k, v in results.items()}, default=str))
        return
    titles = named_queries(limits.namespace_limit, limits.alert_threshold)
    for name, result in results.items():
        out.print(_table(titles[name][0], result))
    for row in results["namespace_limit"].to_dicts():
        if row["alert"]:
            out.print(f"[bold red]alert:[/] index {row['index_name']} holds {row['namespaces']:,} namespaces, "
                      f"{row['used_share']:.0%} of the limit")


@click.command()
@click.argument("query")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
@click.pass_context
def sql(ctx, query, as_json) -> None:
    """Run one read-only DuckDB query over the mirror's tables (writes are refused).

    Tables: namespaces, documents, vector_entries, query_log, ingest_runs, stores, migration_stores.
    """
    from core.stats import run_sql
    from lightfast_cli.main import open_service

    result = run_sql(open_service(ctx).mirror, query)
    if as_json:
        out.print_json(json.dumps(result.to_dicts(), default=str))
    else:
        out.print(_table("", result))


@click.command()
@click.option("--stores", type=click.IntRange(1), default=None, help="Stores to price (default: the design's scenarios).")
@click.option("--vectors-per-store", type=click.IntRange(1), default=100_000, show_default=True)
@click.option("--dimension", type=click.IntRange(1), default=1024, show_default=True)
@click.option("--queries-per-store", type=click.IntRange(0), default=10_000, show_default=True, help="Queries per store per month.")
@click.option("--gb-per-store", type=float, default=None, help="Override the size computed from vectors.")
@click.option("--storage-price", type=float, default=None, help="$ per GB-month (default: the dated list price).")
@click.option("--read-price", type=float, default=None, help="$ per million read units.")
@click.option("--minimum", type=float, default=None, help="$ minimum spend per organization per month.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def cost(ctx, stores, vectors_per_store, dimension, queries_per_store, gb_per_store, storage_price, read_price,
         minimum, as_json) -> None:
    """One index per store vs one shared index with namespaces, priced.

    Without --stores: the design's scenarios (1,000 to 50,000 stores at its 10 GB each)
    and this mirror's own figures. Prices default to dated list prices (see --help of
    each option); what the design got wrong or is out of date is said below the table.
    """
    from dataclasses import replace

    from core.cost import Prices, Workload, compare, corrections, design_scenarios

    prices = Prices()
    for field, value in (("storage_per_gb_month", storage_price), ("per_million_read_units", read_price),
                         ("minimum_per_organization", minimum)):
        if value is not None:
            prices = replace(prices, **{field: value})
    if stores:
        rows = [compare(Workload(stores, vectors_per_store, dimension, queries_per_store_month=queries_per_store,
                                 gb_per_store=gb_per_store), prices)]
        title = "your workload"
    else:
        rows = design_scenarios(prices)
        title = "the design's scenarios (10 GB per store, storage only)"
    actual = _mirror_figures(ctx, prices)
    if as_json:
        out.print_json(json.dumps({"prices": prices.__dict__, "rows": rows, "this_mirror": actual,
                                   "corrections": corrections()}))
        return
    out.print(f"prices as of {prices.as_of}: ${prices.storage_per_gb_month}/GB-month, "
              f"${prices.per_million_read_units}/M read units, ${prices.minimum_per_organization} minimum per "
              f"organization ({prices.source})")
    table = Table(title=title, title_justify="left", padding=(0, 1))
    for col in ("stores", "per store idx/proj/org", "floor", "monthly", "shared idx/proj/org", "floor", "monthly",
                "saved"):
        table.add_column(col, justify="right")
    for r in rows + ([actual] if actual else []):
        a, b = r["per_store"], r["shared"]
        table.add_row(f"{r['workload']['stores']:,}", f"{a['indexes']:,}/{a['projects']:,}/{a['organizations']:,}",
                      f"${a['minimum']:,.0f}", f"${a['monthly']:,.0f}",
                      f"{b['indexes']:,}/{b['projects']:,}/{b['organizations']:,}", f"${b['minimum']:,.0f}",
                      f"${b['monthly']:,.0f}", f"${r['savings']:,.0f}")
    out.print(table)
    if actual:
        out.print("last row: this mirror's own stores, vectors and dimension")
    claims = ", ".join(f"{r['workload']['stores']:,}: ${r['design_minimum_claim']['minimum']:,.0f}" for r in rows)
    out.print(f"the design's minimums for the per-store layout ($50 x projects): {claims}")
    for line in corrections():
        out.print(f"[yellow]note:[/] {line}")


def _mirror_figures(ctx, prices) -> dict | None:
    """This mirror's real stores, vectors per store and dimension, priced."""
    from core.config import find_config
    from core.cost import Workload, compare
    from core.errors import LightfastError

    try:
        from lightfast_cli.main import open_service

        if not ctx.obj.get("config"):
            find_config()
        service = open_service(ctx)
    except LightfastError:
        return None
    rows = service.mirror.rows(
        "SELECT n.embedding_dim AS dim, COUNT(v.vector_id) AS vectors FROM namespaces n "
        "LEFT JOIN vector_entries v ON v.namespace_id = n.id GROUP BY n.id"
    )
    if not rows:
        return None
    avg = max(1, round(sum(r["vectors"] for r in rows) / len(rows)))
    return compare(Workload(len(rows), avg, rows[0]["dim"], queries_per_store_month=10_000), prices)


@click.group()
def verify() -> None:
    """Checks that exit non-zero when something is wrong."""


@verify.command("isolation")
@click.option("--sample", type=click.IntRange(1), default=None, help="Check only N namespaces (default: all).")
@click.pass_context
def verify_isolation_cmd(ctx, sample) -> None:
    """Write a canary into each namespace, query each, report hits from another namespace; clean up."""
    from core.isolation import verify_isolation
    from lightfast_cli.main import open_service

    report = verify_isolation(open_service(ctx), sample=sample)
    for line in report.contaminations:
        out.print(f"[bold red]contamination[/] {line}")
    out.print(f"{len(report.namespaces)} namespaces, {report.queries} queries, "
              f"{len(report.contaminations)} cross-namespace hits")
    if not report.ok:
        sys.exit(1)
