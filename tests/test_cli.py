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
    result = run("namespaces", "delete", "docs", "--yes")
    assert result.exit_code == 0 and "deleted" in result.output
    rows = json.loads(run("namespaces", "--json").output)
    assert next(r for r in rows if r["store_slug"] == "docs")["vectors"] == 0


def test_cold_process_search(cli_repo):
    run("ingest")
    proc = subprocess.run([sys.executable, "-m", "lightfast_cli", "search", "pelican lagoon"],
                          capture_output=True, text=True, env=os.environ.copy(), cwd=cli_repo)
    assert proc.returncode == 0, proc.stderr
    assert "docs/birds.md" in proc.stdout
