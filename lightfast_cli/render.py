"""How the CLI shows results: rich tables and a progress bar on stderr."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from core.ingest import Progress as IngestProgress


@contextmanager
def ingest_progress(console: Console, enabled: bool) -> Iterator:
    """A progress bar per store, fed by core's progress callback."""
    if not enabled:
        yield None
        return
    bars = Progress(
        TextColumn("[bold]{task.fields[store]}"), BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(), TextColumn("{task.description}", style="dim"),
        console=console, transient=False,
    )
    tasks: dict[str, int] = {}

    def on_progress(p: IngestProgress) -> None:
        if p.store not in tasks:
            tasks[p.store] = bars.add_task("", total=max(p.total, 1), store=p.store)
        task = tasks[p.store]
        bars.update(task, total=max(p.total, 1), completed=p.done if p.total else 1,
                    description=p.message[-60:])

    with bars:
        yield on_progress


def print_ingest_report(console: Console, report) -> None:
    table = Table(title=f"ingest ({report.seconds:.1f} s)")
    for col in ("store", "namespace", "added", "changed", "removed", "unchanged", "chunks", "skipped", "failed"):
        table.add_column(col, justify="right" if col not in ("store", "namespace") else "left")
    for r in report.stores:
        table.add_row(r.store, r.namespace, str(r.added), str(r.changed), str(r.removed),
                      str(r.unchanged), str(r.chunks_embedded), str(len(r.skipped)), str(len(r.failed)))
    console.print(table)
    for r in report.stores:
        for path, reason in r.failed:
            console.print(f"[red]failed[/] {r.store}: {path}: {reason}")
        secrets = [(p, why) for p, why in r.skipped if why.startswith("secret")]
        for path, reason in secrets:
            console.print(f"[yellow]skipped[/] {r.store}: {path}: {reason}")


def print_plan(console: Console, plan) -> None:
    console.print(f"[bold]environment[/] {plan.environment}   [bold]model[/] {plan.model}   "
                  f"[bold]price[/] ${plan.price_per_million_tokens:.2f} / 1M tokens")
    table = Table()
    for col in ("store", "files", "to embed", "chunks", "tokens", "est. cost", "skipped"):
        table.add_column(col, justify="left" if col == "store" else "right")
    for s in plan.stores:
        table.add_row(s.store, str(s.files), str(s.new_or_changed), str(s.chunks), f"{s.tokens:,}",
                      f"${s.estimated_cost_usd:.4f}", str(len(s.skipped)))
    console.print(table)
    for s in plan.stores:
        if s.largest_dirs:
            dirs = ", ".join(f"{d} ({t:,} tokens)" for d, t in s.largest_dirs)
            console.print(f"[bold]{s.store}[/] largest directories: {dirs}")
        reasons: dict[str, int] = {}
        for _, why in s.skipped:
            key = why.split(" (")[0]
            reasons[key] = reasons.get(key, 0) + 1
        if reasons:
            console.print(f"[bold]{s.store}[/] skipped: " + ", ".join(f"{n} {k}" for k, n in reasons.items()))


def print_search(console: Console, result) -> None:
    if not result.hits:
        console.print(f"no hits for {result.query!r} in {len(result.namespaces)} namespace(s)")
    for i, hit in enumerate(result.hits, 1):
        console.print(
            f"[bold]{i:>2}. {hit.path}:{hit.start_line}-{hit.end_line}[/]  "
            f"[dim]{hit.store} · score {hit.score:.3f}[/]"
        )
        snippet = " ".join(hit.text.split())
        console.print(f"    {snippet[:240]}{'…' if len(snippet) > 240 else ''}", markup=False)
    for name, error in result.failed.items():
        console.print(f"[red]failed[/] {name}: {error}")


def print_namespaces(console: Console, rows: list[dict]) -> None:
    table = Table()
    for col in ("namespace", "env", "index", "docs", "vectors", "in index", "last ingest", "note"):
        table.add_column(col)
    for r in rows:
        note = {"index": "only in the index", "mirror": "missing from the index"}.get(r.get("only_in") or "", "")
        table.add_row(
            r["namespace_name"], r["environment"], r.get("index_name", ""),
            _num(r.get("documents")), _num(r.get("vectors")), _num(r.get("index_vectors")),
            (r.get("last_ingest") or "")[:19], note,
        )
    console.print(table)


def print_status(console: Console, service) -> None:
    c, p = service.config, service.profile
    console.print(f"[bold]config[/]       {c.source_path}")
    console.print(f"[bold]repo root[/]    {c.root_path}")
    console.print(f"[bold]data dir[/]     {service.home}")
    console.print(f"[bold]organization[/] {c.organization}   [bold]workspace[/] {c.workspace}")
    console.print(f"[bold]environment[/]  {service.environment}: {p.backend} index '{p.name}', "
                  f"{p.embedding_provider} {p.embedding_model} ({p.dimension}-d, {p.metric})")
    rows = {r["store_slug"]: r for r in service.namespace_records("store")}
    for store in c.stores:
        r = rows.get(store.slug)
        if r is None:
            console.print(f"  {store.slug}: not ingested yet")
            continue
        counts = service.mirror.counts(r["id"])
        last = service.mirror.last_ingest(r["id"])
        when = f", last ingest {last['finished_at'][:19]} ({last['status']})" if last and last["finished_at"] else ""
        console.print(f"  {store.slug}: {r['namespace_name']}: {counts['documents']} documents, "
                      f"{counts['vectors']} vectors{when}")


def _num(value) -> str:
    return "" if value is None else f"{value:,}"
