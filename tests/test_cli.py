"""The CLI end to end with the real local model: init, ingest, search, namespaces, status."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from conftest import write_files
from lightfast_cli.main import cli

DOCS = {
    "docs/birds.md": "# Birds\n\nThe pelican colony nests on the northern lagoon every spring.\n",
    "docs/cooking.md": "# Cooking\n\nKnead the bread dough for ten minutes, then let it rise.\n",
    "src/billing.py": "def compute_invoice_total(lines):\n    return sum(l.amount for l in lines)\n",
}


@pytest.fixture
def cli_repo(repo, monkeypatch):
    write_files(repo, DOCS)
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(cli, ["init", "--organization", "acme", "--workspace", "web"])
    assert result.exit_code == 0, result.output
    return repo


def run(*args):
    result = CliRunner().invoke(cli, list(args))
    return result


def test_every_command_has_help():
    names = []

    def walk(group, prefix):
        for name, cmd in group.commands.items():
            names.append(prefix + [name])
            if hasattr(cmd, "commands"):
                walk(cmd, prefix + [name])

    walk(cli, [])
    assert {"init", "ingest", "search", "namespaces", "status"} <= {n[0] for n in names}
    for name in names:
        result = run(*name, "--help")
        assert result.exit_code == 0, (name, result.output)
        assert "Usage:" in result.output and len(result.output.splitlines()) > 3


def test_init_ingest_search_with_the_real_model(cli_repo):
    result = run("ingest")
    assert result.exit_code == 0, result.output
    result = run("search", "where do pelicans nest?", "--json", "-k", "3")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)["hits"]
    assert hits[0]["path"] == "docs/birds.md"
    assert hits[0]["namespace"] == "org_acme:ws_web:store_docs"
    result = run("search", "function that sums invoice amounts", "--store", "code", "--json")
    assert json.loads(result.output)["hits"][0]["path"] == "src/billing.py"
    result = run("search", "bread dough", "--workspace")
    assert result.exit_code == 0 and "docs/cooking.md" in result.output


def test_namespaces_and_status(cli_repo):
    run("ingest")
    result = run("namespaces", "--json")
    rows = json.loads(result.output)
    assert {r["namespace_name"] for r in rows} == {"org_acme:ws_web:store_docs", "org_acme:ws_web:store_code"}
    docs = next(r for r in rows if r["store_slug"] == "docs")
    assert docs["documents"] == 2 and docs["vectors"] == docs["index_vectors"] >= 2
    result = run("status")
    assert result.exit_code == 0 and "all-MiniLM-L6-v2" in result.output and "2 documents" in result.output


def test_plan_embeds_nothing_and_prices_the_profile(cli_repo):
    result = run("ingest", "--plan", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    docs = next(s for s in plan["stores"] if s["store"] == "docs")
    assert docs["files"] == 2 and docs["chunks"] >= 2 and docs["tokens"] > 10
    assert docs["estimated_cost_usd"] == 0.0  # the local model is free
    assert run("namespaces", "--json", "--no-backend").output.strip() in ("[]", "")


def test_errors_are_one_line_with_an_exit_code(cli_repo, tmp_path):
    result = run("search", "   ")
    assert result.exit_code == 1 and "query is empty" in result.output
    result = run("search", "x", "--store", "nope")
    assert result.exit_code == 2 and "nope" in result.output
    result = run("--config", str(tmp_path / "missing.yml"), "status")
    assert result.exit_code == 2 and "missing.yml" in result.output
    assert "Traceback" not in result.output
    result = run("init")
    assert result.exit_code == 1 and "already exists" in result.output


def test_delete_namespace_asks_first(cli_repo):
    run("ingest")
    result = CliRunner().invoke(cli, ["namespaces", "delete", "docs"], input="n\n")
    assert result.exit_code == 1 and "Aborted" in result.output
    before = next(r for r in json.loads(run("namespaces", "--json").output) if r["store_slug"] == "docs")
    result = run("namespaces", "delete", "docs", "--yes")
    assert result.exit_code == 0
    assert (f"deleted namespace org_acme:ws_web:store_docs ({before['vectors']:,} vectors known to the mirror)"
            in " ".join(result.output.split()))
    rows = json.loads(run("namespaces", "--json").output)
    assert next(r for r in rows if r["store_slug"] == "docs")["vectors"] == 0


def test_a_store_never_ingested_has_no_namespace_one_error_everywhere(cli_repo):
    """One check (Lightfast.store_namespace) for the CLI and the service: NoNamespaceError, exit 1,
    naming the command that recovers; nothing asked, nothing deleted."""
    from core.errors import NoNamespaceError, NotFoundError
    from core.service import Lightfast

    result = run("namespaces", "delete", "docs")  # no --yes: it must fail before asking
    assert result.exit_code == 1, result.output
    assert "store 'docs' has no namespace yet; ingest it first" in result.output
    assert "lightfast ingest --store docs" in " ".join(result.output.split())
    assert "Delete all vectors" not in result.output and "Traceback" not in result.output
    service = Lightfast.open()
    for call in (lambda: service.store_namespace("docs"), lambda: service.delete_namespace("docs")):
        with pytest.raises(NoNamespaceError, match="store 'docs' has no namespace yet") as raised:
            call()
        assert isinstance(raised.value, NotFoundError)


def test_ingest_summary_is_one_line_from_the_totals():
    """The progress 'done' report, the watcher, the TUI and the webhook's log all say an ingest's
    counts with this one line."""
    from core.ingest import StoreReport
    from core.service import IngestReport, ingest_summary

    report = IngestReport([StoreReport("docs", "ns1", added=2, changed=1, chunks_embedded=7,
                                       skipped=[("a.bin", "binary")]),
                           StoreReport("code", "ns2", removed=3, failed=[("b.py", "unreadable")])])
    assert report.summary() == "2 added, 1 changed, 3 removed, 0 unchanged, 7 chunks embedded, 1 skipped, 1 failed"
    assert ingest_summary({}) == "0 added, 0 changed, 0 removed, 0 unchanged, 0 chunks embedded, 0 skipped, 0 failed"
    repaired = StoreReport("docs", "ns1", unchanged=5, chunks_embedded=3, repaired=2).counts()
    assert ingest_summary(repaired) == ("0 added, 0 changed, 0 removed, 5 unchanged, 3 chunks embedded, 2 re-embedded "
                                        "(vectors missing from the index), 0 skipped, 0 failed")


def test_cold_process_search(cli_repo):
    run("ingest")
    proc = subprocess.run([sys.executable, "-m", "lightfast_cli", "search", "pelican lagoon"],
                          capture_output=True, text=True, env=os.environ.copy(), cwd=cli_repo)
    assert proc.returncode == 0, proc.stderr
    assert "docs/birds.md" in proc.stdout


# -- issue 14: --config anywhere, progress, 80 columns, the writer lock, paths outside the repo -------------

from io import StringIO  # noqa: E402

from rich.console import Console  # noqa: E402

from cli_lines import all_commands  # noqa: E402
from conftest import make_config  # noqa: E402
from core.ingest import Progress  # noqa: E402
from lightfast_cli.progress import BarProgress, PlainProgress  # noqa: E402

LONG = dict(organization="acme-corporation-international", workspace="platform-engineering-north")
LONG_STORES = """
  - slug: customer-api-reference-docs
    include: ["**/*.md"]
    chunking: {max_tokens: 64, overlap: 8}
  - slug: code
    include: ["**/*.py"]
    chunking: {max_tokens: 64, overlap: 8}
"""
LONG_NAMES = ["org_acmecorporationinternational:ws_platformengineeringnorth:store_customerapireferencedocs",
              "org_acmecorporationinternational:ws_platformengineeringnorth:store_code"]


@pytest.fixture
def hashed(monkeypatch, hash_embedder):
    """Commands that build the test profile's embedder get the deterministic hash embedder."""
    import core.factory

    real = core.factory.make_embedder
    monkeypatch.setattr(core.factory, "make_embedder",
                        lambda profile: hash_embedder if profile.embedding_model == "hash-test" else real(profile))
    return hash_embedder


@pytest.fixture
def elsewhere(repo, tmp_path, monkeypatch, hashed):
    """A test-profile repo, with the working directory outside it: only --config can find it."""
    write_files(repo, DOCS)
    config = make_config(repo)
    away = tmp_path / "elsewhere"
    away.mkdir()
    monkeypatch.chdir(away)
    return config


def run80(*args, **kw):
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "80", **kw.pop("env", {})}, **kw)


def test_config_is_accepted_before_or_after_any_subcommand(elsewhere):
    cfg = str(elsewhere)
    assert run80("ingest", "--config", cfg).exit_code == 0
    rows = json.loads(run80("namespaces", "--json", "--config", cfg).stdout)
    assert {r["namespace_name"] for r in rows} == {"org_acme:ws_platform:store_docs", "org_acme:ws_platform:store_code"}
    assert json.loads(run80("status", "--config", cfg, "--json").stdout)["config"] == cfg
    assert json.loads(run80("-c", cfg, "status", "--json").stdout)["config"] == cfg
    result = run80("search", "pelican", "--config", cfg, "--json")
    assert json.loads(result.stdout)["hits"][0]["path"] == "docs/birds.md"
    for args in (["stats", "--json"], ["cost", "--json"], ["sql", "SELECT 1 AS one"], ["migrate", "plan", "--json"],
                 ["verify", "isolation"], ["ingest", "--plan"]):
        result = run80(*args, "--config", cfg)
        assert result.exit_code == 0, (args, result.output)
    result = run80("namespaces", "delete", "docs", "--config", cfg, "--yes")
    assert result.exit_code == 0 and "org_acme:ws_platform:store_docs" in result.stdout
    # a group's own --config (before its subcommand) works too
    assert run80("namespaces", "--config", cfg, "delete", "code", "--yes").exit_code == 0
    # without it nothing is found from here
    result = run80("status")
    assert result.exit_code == 2 and "lightfast.yml" in result.output


def test_config_from_the_environment_and_the_later_flag_wins(elsewhere, tmp_path):
    cfg = str(elsewhere)
    result = run80("status", "--json", env={"LIGHTFAST_CONFIG": cfg})
    assert result.exit_code == 0 and json.loads(result.stdout)["config"] == cfg
    missing = str(tmp_path / "missing.yml")
    result = run80("--config", missing, "status", "--json", "--config", cfg)
    assert result.exit_code == 0, result.output
    result = run80("--config", cfg, "status", "--config", missing)
    assert result.exit_code == 2 and "missing.yml" in result.output


def test_every_command_lists_config_in_its_help():
    for path in all_commands():
        result = CliRunner().invoke(cli, [*path, "--help"])
        assert "--config" in result.output, path


def test_init_writes_where_config_points(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "svc" / "lightfast.yml"
    result = run80("init", "--config", str(target), "-o", "acme")
    assert result.exit_code == 0, result.output
    assert target.exists() and "workspace: \"svc\"" in target.read_text()


def test_mcp_takes_config_after_its_name(tmp_path):
    """README's `lightfast mcp --config PATH`: a wrong path is a clean configuration error, not a usage error."""
    proc = subprocess.run([sys.executable, "-m", "lightfast_cli", "mcp", "--config", str(tmp_path / "nope.yml")],
                          capture_output=True, text=True, env=os.environ.copy(), timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "nope.yml" in proc.stderr and "No such option" not in proc.stderr


# -- progress ----------------------------------------------------------------------------------------

def _events(store: str, total: int, batch: int):
    yield Progress(store, "scan", 0, 10, "10 new or changed")
    for n in range(1, 11):
        yield Progress(store, "scan", n, 10, f"f{n}.md")
    for done in range(0, total + 1, batch):
        yield Progress(store, "embed", done, total, "", rate=50.0 if done else None,
                       eta_s=(total - done) / 50.0 if done else None, vectors_written=done)
    yield Progress(store, "done", total, total, "10 added")


def test_plain_progress_prints_stage_changes_and_at_most_one_line_per_interval():
    lines: list[str] = []
    clock = [0.0]
    plain = PlainProgress(lines.append, clock=lambda: clock[0], every_s=2.0)
    for p in _events("docs", 400, 16):  # 26 embed reports, a quarter of a second apart
        plain(p)
        clock[0] += 0.25
    scan = [l for l in lines if " scan " in l]
    embed = [l for l in lines if " embed " in l]
    # 11 scan reports over 2.75 s: the first (a stage change) and the one 2 s later
    assert scan == ["docs: scan 0/10 files", "docs: scan 8/10 files"]
    assert lines[-1] == "docs: done: 10 added"
    # then the embed stage starts (a change) and prints every 8th report (2 s apart)
    assert len(embed) == 4, embed
    assert embed[0] == "docs: embed 0/400 chunks"
    assert "128/400 chunks, 50 chunks/s, ETA 5 s, 128 vectors written" in embed[1]
    # with every event at the same instant, only stage changes print
    lines.clear()
    still = PlainProgress(lines.append, clock=lambda: 0.0)
    for p in _events("code", 300, 10):
        still(p)
    assert [l.split()[1] for l in lines] == ["scan", "embed", "done:"]


def test_plain_progress_keeps_stores_apart():
    lines: list[str] = []
    plain = PlainProgress(lines.append, clock=lambda: 0.0)
    for a, b in zip(_events("docs", 32, 16), _events("code", 32, 16)):
        plain(a)
        plain(b)
    assert sum(l.startswith("docs:") for l in lines) == sum(l.startswith("code:") for l in lines) == 3


def test_bar_progress_follows_chunks_embedded():
    console = Console(file=StringIO(), force_terminal=True, width=80, record=True)
    bar = BarProgress(console)
    with bar.bars:
        for p in _events("docs", 300, 100):
            bar(p)
            task = bar.bars.tasks[0]
            if p.stage == "embed":
                assert (task.completed, task.total) == (p.done, 300)
                assert (p.done == 0) or "50 chunks/s" in task.fields["speed"]
    text = console.export_text()
    assert "docs" in text and "300/300 chunks" in text


def test_ingest_off_a_terminal_prints_progress_lines_on_stderr_only(cli_repo):
    result = run("ingest", "--json")
    assert result.exit_code == 0, result.output
    assert "docs: embed" in result.stderr and "docs: done" in result.stderr
    assert json.loads(result.stdout)["totals"]["added"] == 3
    assert "embed" not in result.stdout.replace("chunks_embedded", "")
    result = run("ingest", "--quiet", "--full")
    assert result.exit_code == 0 and result.stderr == ""


# -- 80 columns ----------------------------------------------------------------------------------------

def _fits_80(text: str, identifiers: list[str]) -> list[str]:
    """Lines wider than 80 columns that are not an identifier that alone is too long."""
    bad = []
    for line in text.splitlines():
        if len(line) <= 80:
            continue
        if not any(ident in line and len(line) - len(ident) <= 80 for ident in identifiers):
            bad.append(line)
    return bad


def test_output_fits_80_columns_and_never_cuts_a_namespace_name(repo, monkeypatch, hashed, lightfast_home):
    write_files(repo, {**DOCS, "docs/very/deeply/nested/folder/with/a/long/name/reference-guide.md":
                       "# Guide\n\nThe pelican reference.\n"})
    make_config(repo, stores=LONG_STORES, **LONG)
    monkeypatch.chdir(repo)
    identifiers = LONG_NAMES + [str(repo), str(repo / "lightfast.yml"), str(lightfast_home)]
    for args in (["ingest"], ["namespaces"], ["status"], ["stats"], ["cost"], ["ingest", "--plan"],
                 ["search", "pelican reference", "--store", "customer-api-reference-docs"]):
        result = run80(*args)
        assert result.exit_code == 0, (args, result.output)
        assert "…" not in result.stdout.replace("…\n", "\n") or args[0] == "search", (args, result.stdout)
        assert not _fits_80(result.stdout, identifiers), (args, _fits_80(result.stdout, identifiers))
        if args[0] in ("ingest", "namespaces", "status", "stats") and args != ["ingest", "--plan"]:
            for name in LONG_NAMES:
                assert name in result.stdout, (args, name, result.stdout)
        if args[0] == "search":
            assert "docs/very/deeply/nested/folder/with/a/long/name/reference-guide.md" in result.stdout
    # a wide terminal gets a table with a header row
    wide = CliRunner().invoke(cli, ["namespaces"], env={"COLUMNS": "200"})
    assert any(l.split()[:2] == ["namespace", "docs"] for l in wide.stdout.splitlines()), wide.stdout


def test_listing_commands_take_json(cli_repo):
    run("ingest")
    for args in (["namespaces"], ["status"], ["stats"], ["cost"], ["ingest", "--plan"], ["search", "pelican"],
                 ["sql", "SELECT 1 AS one"], ["migrate", "plan"], ["ingest"], ["verify", "isolation"]):
        result = run(*args, "--json")
        assert result.exit_code == 0, (args, result.output)
        json.loads(result.stdout)
    result = run("migrate", "verify", "--json")  # nothing migrated: exits 1, still JSON
    assert result.exit_code == 1 and json.loads(result.stdout) == {"ok": False, "stores": []}


# -- paths outside the repo ----------------------------------------------------------------------------

def test_ingest_outside_the_repo_is_a_clear_error(cli_repo):
    result = run("ingest", "../etc")
    assert result.exit_code == 6  # out of scope, as README's exit codes say
    assert "outside the repository root" in result.stderr and "Traceback" not in result.output
    result = run("ingest", "/etc/passwd")
    assert result.exit_code == 6 and "outside the repository root" in result.stderr


def test_ingest_paths_are_relative_to_the_working_directory(cli_repo, monkeypatch):
    monkeypatch.chdir(cli_repo / "docs")
    result = run("ingest", "birds.md", "--json")
    assert result.exit_code == 0, result.output
    stores = {s["store"]: s for s in json.loads(result.stdout)["stores"]}
    assert stores["docs"]["added"] == 1 and stores["code"]["added"] == 0
    result = run("ingest", "..", "--json")  # the root itself: the whole repo
    assert json.loads(result.stdout)["totals"]["added"] == 2
    result = run("ingest", "nope.md")
    assert result.exit_code == 0 and "nope.md does not exist" in result.stderr


def test_search_notes_are_printed():
    """How the answer was made (a rerank fallback) reaches the user, not only the log."""
    import io

    from rich.console import Console

    from core.search import SearchResult
    from lightfast_cli.render import print_search

    console = Console(file=io.StringIO(), width=80)
    print_search(console, SearchResult("q", [], ["ns"], notes=["rerank unavailable; merged by vector score"]))
    assert "note rerank unavailable; merged by vector score" in console.file.getvalue()


def test_removing_most_of_a_store_needs_force(repo, hashed, monkeypatch):
    """A typo in the globs or root would empty a store: refused, and --force when it is meant."""
    write_files(repo, {f"notes/n{i}.md": f"# Note {i}\n\nabout item {i}\n" for i in range(10)})
    config = str(make_config(repo, stores='- slug: docs\n  include: ["**/*.md"]'))
    monkeypatch.delenv("LIGHTFAST_FORCE_REMOVE", raising=False)
    assert run80("ingest", "--config", config).exit_code == 0
    for i in range(8):
        (repo / f"notes/n{i}.md").unlink()
    refused = run80("ingest", "--config", config)
    assert refused.exit_code == 1 and "would remove 8 of its 10 documents" in refused.stderr
    assert "--force" in refused.stderr and "Traceback" not in refused.output
    forced = run80("ingest", "--config", config, "--force", "--json")
    assert forced.exit_code == 0 and json.loads(forced.stdout)["totals"]["removed"] == 8
