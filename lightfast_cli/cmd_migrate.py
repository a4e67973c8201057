"""`lightfast migrate`: one-index-per-store -> shared index, with verify and rollback."""

from __future__ import annotations

import json
import sys

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from lightfast_cli.consoles import err, out
from lightfast_cli.layout import print_rows


def _migration(ctx, **kw):
    from lightfast_cli.main import open_service

    return open_service(ctx).migration(**kw)


@click.group()
def migrate() -> None:
    """Move legacy per-store indexes into the shared index (plan, run, verify, cutover, rollback,
    cleanup), and reconcile the shared namespaces with the mirror.

    The legacy layout is the design's old one: a `stores` table in the mirror and
    one index per store named {workspace}-{store}. While a migration is under way,
    ingest writes both layouts and `use_shared_index` in lightfast.yml chooses
    which one search reads.

    Example usage:

    \b
        lightfast migrate plan
        lightfast migrate run && lightfast migrate verify
        lightfast migrate cutover --delete-legacy --safety-days 7
        lightfast migrate cleanup --yes
        lightfast migrate reconcile
    """


@migrate.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def plan(ctx, as_json) -> None:
    """List legacy stores, their indexes and vector counts, and the namespace each maps to.

    Example usage:

    \b
        lightfast migrate plan
        lightfast migrate plan --json
    """
    m = _migration(ctx)
    rows = m.plan()
    total = sum(r["vectors"] for r in rows)
    # Local copies run at thousands of vectors/s (bench/migrate.py); Pinecone is rate-limited.
    rate = 5000.0 if m.backend.kind == "local" else m.batch_size * (m.max_batches_per_s or 10)
    if as_json:
        out().print_json(json.dumps({"stores": rows, "vectors": total, "estimated_seconds": round(total / rate, 1)}))
        return
    console = out()
    print_rows(console, ("namespace", "workspace", "store", "legacy index", "vectors", "status", "problem"),
               [(r["namespace"] or "", r["workspace"], r["store"], r["legacy_index"], f"{r['vectors']:,}", r["status"],
                 r["error"] or ("" if r["legacy_index_exists"] else "legacy index missing")) for r in rows],
               right=("vectors",))
    console.print(f"{len(rows)} stores, {total:,} vectors, about {total / rate:.0f} s to copy")


@migrate.command()
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 1000), help="Vectors per copy batch.")
@click.pass_context
def run(ctx, batch_size) -> None:
    """Register namespaces for legacy stores, then copy their vectors (resumes after a kill).

    Example usage:

    \b
        lightfast migrate run
        lightfast migrate run --batch-size 200
    """
    bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err())
    tasks: dict[str, int] = {}

    def progress(store, done, total):
        if store not in tasks:
            tasks[store] = bars.add_task(store, total=max(total, 1))
        bars.update(tasks[store], completed=done, total=max(total, 1))

    with bars:
        result = _migration(ctx, batch_size=batch_size, progress=progress).run()
    out().print(f"{result['stores']} stores, {result['vectors_copied']:,} vectors copied this run")


@migrate.command()
@click.option("--sample", default=50, show_default=True, type=click.IntRange(0, 100000), help="Ids per store compared by values and metadata.")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.pass_context
def verify(ctx, sample, as_json) -> None:
    """Compare counts and a sample of vectors per store; exits 1 on any mismatch.

    Example usage:

    \b
        lightfast migrate verify
        lightfast migrate verify --sample 500
        lightfast migrate verify --json
    """
    console = out()
    checks = _migration(ctx).verify(sample=sample)
    bad = [c for c in checks if not c.ok]
    if as_json:
        console.print_json(json.dumps({"ok": bool(checks) and not bad, "stores": [
            {"store_id": c.store_id, "ok": c.ok, "legacy_vectors": c.legacy_vectors,
             "shared_vectors": c.shared_vectors, "sampled": c.sampled, "mismatches": c.mismatches}
            for c in checks]}, default=str))
        if bad or not checks:
            sys.exit(1)
        return
    for c in checks:
        mark = "ok " if c.ok else "BAD"
        console.print(f"{mark} {escape(str(c.store_id))}: legacy {c.legacy_vectors}, shared {c.shared_vectors}, "
                      f"sampled {c.sampled}", crop=False)
        for m in c.mismatches[:10]:
            console.print(f"      {escape(str(m))}", crop=False)
    console.print(f"{len(checks) - len(bad)} of {len(checks)} stores verified")
    if bad or not checks:
        sys.exit(1)


@migrate.command()
@click.option("--delete-legacy", is_flag=True, help="Also delete legacy indexes deprecated longer than the safety period.")
@click.option("--safety-days", default=7, show_default=True, type=click.IntRange(0), help="Days a legacy index is kept after cutover.")
@click.pass_context
def cutover(ctx, delete_legacy, safety_days) -> None:
    """Read from the shared index, stop dual-writing, and mark legacy indexes deprecated.

    Example usage:

    \b
        lightfast migrate cutover
        lightfast migrate cutover --delete-legacy --safety-days 7
    """
    deleted = _migration(ctx).cutover(delete_legacy=delete_legacy, safety_days=safety_days)
    console = out()
    console.print("use_shared_index: true; legacy stores marked deprecated")
    for name in deleted:
        console.print(f"deleted legacy index {escape(name)}", crop=False)


@migrate.command()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def rollback(ctx, yes) -> None:
    """Remove the namespaces the migration created and read the legacy layout again.

    Example usage:

    \b
        lightfast migrate rollback
        lightfast migrate rollback --yes
    """
    if not yes:
        click.confirm("Delete the shared-index namespaces this migration created?", abort=True, err=True)
    removed = _migration(ctx).rollback()
    out().print(f"removed {removed} namespaces; use_shared_index: false; legacy layout untouched")


@migrate.command()
@click.option("--safety-days", default=7, show_default=True, type=click.IntRange(0),
              help="Days after cutover before a legacy store is cleaned up.")
@click.option("--yes", is_flag=True, help="Also delete the legacy indexes past the safety window.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def cleanup(ctx, safety_days, yes, as_json) -> None:
    """Phase 5: drop legacy rows of cut-over stores past the safety window; delete their legacy
    indexes only with --yes.

    Without --yes the legacy indexes stay and are listed; run again with --yes to delete
    them. A store still inside the window is left alone. Safe to re-run.

    Example usage:

    \b
        lightfast migrate cleanup
        lightfast migrate cleanup --yes --safety-days 7
        lightfast migrate cleanup --json
    """
    m = _migration(ctx)
    if not m.state():
        out().print("nothing to clean up: no migrated store is waiting (see `lightfast migrate plan`)")
        return
    report = m.cleanup(delete_indexes=yes, safety_days=safety_days)
    if as_json:
        out().print_json(json.dumps(vars(report)))
        return
    console = out()
    console.print(f"dropped {report.document_rows:,} legacy document rows and {report.vector_rows:,} "
                  "legacy vector rows")
    console.print(f"{report.stores_removed} legacy stores removed with their indexes")
    for name in report.indexes_deleted:
        console.print(f"deleted legacy index {escape(name)}", crop=False)
    for name in report.indexes_kept:
        console.print(f"kept legacy index {escape(name)}: pass --yes to delete it", crop=False)
    for line in report.waiting:
        console.print(f"waiting: {escape(line)}", crop=False)


@migrate.command()
@click.option("--json", "as_json", is_flag=True, help="Print the drift as JSON.")
@click.pass_context
def reconcile(ctx, as_json) -> None:
    """Compare every shared namespace of this organization with the mirror, id by id; exits 1 on
    drift (vectors on one side only, or a namespace with no record).

    Pinecone's listings lag its writes: right after an ingest, run it again before acting.
    `lightfast ingest --full` restores vectors missing from the index; vectors the mirror
    does not record go with `lightfast namespaces delete STORE` and a new ingest.

    Example usage:

    \b
        lightfast migrate reconcile
        lightfast migrate reconcile --json
    """
    from lightfast_cli.main import open_service

    checked, drifts = open_service(ctx).reconcile()
    if as_json:
        out().print_json(json.dumps({"ok": not drifts, "checked": checked, "drift": [
            {**vars(d), "missing": d.missing[:100], "extra": d.extra[:100], "missing_count": len(d.missing),
             "extra_count": len(d.extra)} for d in drifts]}))
    else:
        console = out()
        for d in drifts:
            console.print(f"DRIFT {escape(d.namespace)} in {escape(d.index)}", crop=False)
            console.print(f"      {escape(d.describe())}")
            for vid in (d.missing + d.extra)[:5]:
                console.print(f"      {escape(vid)}", crop=False)
        console.print(f"{checked} namespaces checked, {len(drifts)} with drift")
    if drifts:
        sys.exit(1)
