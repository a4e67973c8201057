"""How the CLI shows results: rows that fit the terminal (lightfast_cli.layout), on stdout."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from lightfast_cli.layout import print_rows, say

if TYPE_CHECKING:
    from core.types import NamespaceStatus


def print_ingest_report(console: Console, report) -> None:
    """Per store: its namespace on one line (never cut), its counts on the next."""
    for r in report.stores:
        console.print(f"[bold]{escape(r.store)}[/] → {escape(r.namespace)}", crop=False)
        console.print(f"  files: {r.added} added, {r.changed} changed, {r.removed} removed, "
                      f"{r.unchanged} unchanged, {len(r.skipped)} skipped, {len(r.failed)} failed", soft_wrap=False)
        console.print(f"  chunks: {r.chunks_embedded:,} embedded; vectors: {r.vectors_upserted:,} written, "
                      f"{r.vectors_deleted:,} deleted", soft_wrap=False)
        if r.repaired:
            console.print(f"  repaired: {r.repaired:,} of them re-embedded because their vectors were "
                          "missing from the index", crop=False)
    console.print(f"ingest took {report.seconds:.1f} s")
    for r in report.stores:
        for path, reason in r.failed:
            say(console, f"failed {r.store}: {path}: {reason}", "red")
        for path, reason in r.skipped:
            if reason.startswith("secret"):
                say(console, f"skipped {r.store}: {path}: {reason}", "yellow")


def ingest_report_dict(report) -> dict:
    return {
        "seconds": round(report.seconds, 3), "totals": report.totals(),
        "stores": [{**r.counts(), "store": r.store, "namespace": r.namespace,
                    "skipped_files": r.skipped, "failed_files": r.failed} for r in report.stores],
    }


def print_plan(console: Console, plan) -> None:
    console.print(f"[bold]environment[/] {escape(plan.environment)}   [bold]model[/] {escape(plan.model)}")
    console.print(f"[bold]price[/] ${plan.price_per_million_tokens:.2f} / 1M tokens")
    print_rows(console, ("store", "files", "to embed", "chunks", "tokens", "est. cost", "skipped"),
               [(s.store, s.files, s.new_or_changed, s.chunks, f"{s.tokens:,}", f"${s.estimated_cost_usd:.4f}",
                 len(s.skipped)) for s in plan.stores],
               right=("files", "to embed", "chunks", "tokens", "est. cost", "skipped"))
    for s in plan.stores:
        if s.largest_dirs:
            dirs = ", ".join(f"{d} ({t:,} tokens)" for d, t in s.largest_dirs)
            console.print(f"[bold]{escape(s.store)}[/] largest directories: {escape(dirs)}", soft_wrap=False)
        reasons: dict[str, int] = {}
        for _, why in s.skipped:
            key = why.split(" (")[0]
            reasons[key] = reasons.get(key, 0) + 1
        if reasons:
            console.print(f"[bold]{escape(s.store)}[/] skipped: "
                          + escape(", ".join(f"{n} {k}" for k, n in reasons.items())), soft_wrap=False)
        if s.refused:  # what `ingest` would say, before it is run
            console.print(f"[bold]{escape(s.store)}[/] [red]ingest would be refused:[/] {escape(s.refused)}",
                          crop=False)
        elif s.removed:
            console.print(f"[bold]{escape(s.store)}[/] would remove {s.removed} document"
                          f"{'s' * (s.removed != 1)} whose files are gone", crop=False)


def print_search(console: Console, result) -> None:
    if not result.hits:
        console.print(f"no hits for {result.query!r} in {len(result.namespaces)} namespace(s)", markup=False)
    for i, hit in enumerate(result.hits, 1):
        console.print(f"[bold]{i:>2}. {escape(hit.path)}:{hit.start_line}-{hit.end_line}[/]", crop=False)
        console.print(f"    [dim]{escape(hit.store)} · score {hit.score:.3f}[/]")
        snippet = " ".join(hit.text.split())
        snippet = snippet[:240] + ("…" if len(snippet) > 240 else "")  # text, not an identifier
        console.print(textwrap.fill(snippet, width=max(console.width, 40), initial_indent="    ",
                                    subsequent_indent="    ", break_on_hyphens=False), markup=False, crop=False)
    for name, error in result.failed.items():
        console.print(f"[red]failed[/] {escape(name)}: {escape(error)}", crop=False)
    for note in result.notes:
        console.print(f"[yellow]note[/] {escape(note)}", crop=False)


def print_namespaces(console: Console, rows: list[NamespaceStatus]) -> None:
    """Namespace records; environment and index go above the rows when all rows share them."""
    if not rows:
        console.print("no namespaces yet: run `lightfast ingest`", markup=False)
        return
    columns = ["namespace", "env", "index", "docs", "vectors", "in index", "last ingest", "note"]
    data = []
    for r in rows:
        note = {"index": "only in the index", "mirror": "missing from the index"}.get(r.only_in or "", "")
        data.append([r.namespace_name, r.environment, r.index_name,
                     _num(r.documents), _num(r.vectors), _num(r.index_vectors),
                     (r.last_ingest or "")[:16].replace("T", " "), note])
    shared = []
    for col in ("env", "index"):
        i = columns.index(col)
        values = {row[i] for row in data}
        if len(values) == 1:
            shared.append(f"{'environment' if col == 'env' else 'index'} {values.pop()}")
            columns.pop(i)
            for row in data:
                row.pop(i)
    if all(not row[-1] for row in data):
        columns.pop()
        for row in data:
            row.pop()
    if shared:
        console.print(escape(", ".join(shared)), crop=False)
    print_rows(console, columns, data, right=("docs", "vectors", "in index"))


def status_dict(service) -> dict:
    c, p = service.config, service.profile
    stores = service.store_status()
    return {
        "config": str(c.source_path), "repo_root": str(c.root_path), "data_dir": str(service.home),
        "organization": c.organization, "workspace": c.workspace, "environment": service.environment,
        "index": {"backend": p.backend, "name": p.name, "embedding_provider": p.embedding_provider,
                  "embedding_model": p.embedding_model, "dimension": p.dimension, "metric": p.metric},
        "stores": stores,
        "index_problems": service.index_problems(),  # counts only; None: not a local index
    }


def print_status(console: Console, status: dict) -> None:
    """Labels on the left; each path and namespace starts its own line, whole."""
    ix = status["index"]
    for label, value in (("config", status["config"]), ("repo root", status["repo_root"]),
                         ("data dir", status["data_dir"])):
        console.print(f"[bold]{label:<12}[/] {escape(value)}", crop=False)
    console.print(f"[bold]organization[/] {escape(status['organization'])}", crop=False)
    console.print(f"[bold]workspace[/]    {escape(status['workspace'])}", crop=False)
    console.print(f"[bold]environment[/]  {escape(status['environment'])}: {ix['backend']} index "
                  f"{escape(ix['name'])}", crop=False)
    console.print(f"[bold]model[/]        {ix['embedding_provider']} {escape(ix['embedding_model'])} "
                  f"({ix['dimension']}-d, {ix['metric']})", crop=False)
    for s in status["stores"]:
        if s["namespace"] is None:
            console.print(f"[bold]{escape(s['store'])}[/]: not ingested yet", crop=False)
            continue
        console.print(f"[bold]{escape(s['store'])}[/] → {escape(s['namespace'])}", crop=False)
        when = ""
        if s["last_ingest"]:
            when = f", last ingest {s['last_ingest'][:16].replace('T', ' ')} ({s['last_ingest_status']})"
        console.print(f"  {s['documents']:,} documents, {s['vectors']:,} vectors{when}", crop=False)
    problems = status.get("index_problems")
    if problems is not None:
        check = "ok" if not problems else \
            f"{problems} problem{'s' * (problems != 1)}: run `lightfast doctor`"
        console.print(f"[bold]index check[/]  {check}", crop=False)


def _num(value) -> str:
    return "" if value is None else f"{value:,}"
