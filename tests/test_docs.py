"""README.md stays true: its test command is CI's, every command it shows exists and runs as written
against a temp repo, and its MCP snippets start a server the `mcp` client can list tools from."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner

from cli_lines import (all_commands, example_lines, is_synopsis, readme_command_lines, resolve,
                       synopsis_variants, unknown_options)
from conftest import make_config, write_files
from lightfast_cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PLACEHOLDER = "/path/to/repo/lightfast.yml"
FILES = {
    "docs/birds.md": "# Birds\n\nThe pelican colony nests on the northern lagoon every spring.\n",
    "docs/kill.md": "# Recovery\n\nAn ingest killed at any moment converges on the next run.\n",
    "src/billing.py": "def compute_invoice_total(lines):\n    return sum(l.amount for l in lines)\n",
}
STORES = """
  - slug: docs
    include: ["**/*.md"]
    chunking: {max_tokens: 64, overlap: 8}
  - slug: code
    include: ["**/*.py"]
    chunking: {max_tokens: 64, overlap: 8}
  - slug: scratch
    include: ["docs/kill.md"]
"""
#: Never run from a test: they serve or draw until stopped (run elsewhere), rewrite a migration, or
#: name a token id only `tokens add` can make (tests/test_tokens.py runs it).
HELP_ONLY = {("tui",), ("mcp",), ("watch",), ("migrate", "run"), ("migrate", "cutover"),
             ("migrate", "rollback"), ("migrate", "verify"), ("webhook", "serve"), ("tokens", "revoke")}


def test_ci_runs_exactly_the_readme_test_command():
    ci_lines = [l.strip() for l in (ROOT / ".ci" / "run").read_text().splitlines()]
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    test_command = next(b.strip() for b in blocks if "pytest" in b)
    assert test_command in ci_lines


def test_example_config_is_documented_and_valid():
    from core.config import load_config

    config = load_config(ROOT / "lightfast.example.yml")
    assert config.stores
    load_config(ROOT / "lightfast.yml")


def test_readme_shows_every_command():
    shown_first = {line.split()[1] for line in readme_command_lines(README)}
    for name in cli.commands:
        assert name in shown_first, f"`lightfast {name}` is not in README.md"


def table_commands(text: str) -> list[tuple[str, ...]]:
    """The command paths README's command table (under "## Usage") names in its first column:
    `lightfast tokens list [--json]` -> ('tokens', 'list'); `migrate plan|run` -> both."""
    usage = text.split("\n## Usage", 1)[1].split("\n## ", 1)[0]
    paths: list[tuple[str, ...]] = []
    for row in re.findall(r"^\| (.*?) \| .*\|$", usage, re.M):
        for shown in re.findall(r"`lightfast ([^`]+)`", row):
            words = []
            for word in shown.replace("\\|", "|").split():
                if not re.fullmatch(r"[a-z][a-z|-]*", word):  # an option, a placeholder: the path ends
                    break
                words.append(word)
            *head, last = words
            paths += [(*head, alt) for alt in last.split("|")]
    return paths


def table_problems(text: str) -> list[str]:
    """Both ways, as sqlite-utils' docs tests check: a command of the CLI (or subcommand) with no
    row in the table, and a command the table names that does not exist."""
    documented = table_commands(text)
    real = {tuple(path) for path in all_commands() if path}
    shown = set(documented) | {path[:n] for path in documented for n in range(1, len(path))}
    return ([f"README's command table shows `lightfast {' '.join(p)}`, which does not exist"
             for p in documented if p not in real]
            + [f"`lightfast {' '.join(p)}` has no row in README's command table" for p in sorted(real - shown)])


def test_readme_table_lists_every_command_and_only_real_ones():
    assert len(table_commands(README)) > 20
    assert table_problems(README) == []


def test_the_table_check_finds_a_missing_and_an_unknown_command():
    """The check can fail: a table whose `tokens revoke` became a made-up `tokens forget`."""
    broken = README.replace("/ `lightfast tokens revoke ID`", "/ `lightfast tokens forget ID`")
    assert broken != README
    assert table_problems(broken) == [
        "README's command table shows `lightfast tokens forget`, which does not exist",
        "`lightfast tokens revoke` has no row in README's command table",
    ]


@pytest.fixture
def docs_repo(repo, monkeypatch, hash_embedder):
    """A tiny repo on the hash embedder (test profile), with a throwaway store 'scratch'."""
    import core.factory

    write_files(repo, FILES)
    make_config(repo, stores=STORES)
    git_commit_all(repo)  # a clone with a remote, for `ingest --since` and `webhook connect`
    real = core.factory.make_embedder
    monkeypatch.setattr(core.factory, "make_embedder",
                        lambda profile: hash_embedder if profile.embedding_model == "hash-test" else real(profile))
    monkeypatch.chdir(repo)
    return repo


def git_commit_all(repo: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "docs", "GIT_AUTHOR_EMAIL": "docs@example.com",
           "GIT_COMMITTER_NAME": "docs", "GIT_COMMITTER_EMAIL": "docs@example.com"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "docs"],
                 ["remote", "add", "origin", "https://github.com/acme/docs.git"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


def invoke(args: list[str]):
    return CliRunner().invoke(cli, args, env={"COLUMNS": "80"})


def test_every_readme_command_runs_as_written(docs_repo, tmp_path, monkeypatch):
    assert invoke(["ingest"]).exit_code == 0
    lines = readme_command_lines(README)
    assert len(lines) > 15
    ran = []
    for line in lines:
        line = line.replace(PLACEHOLDER, str(docs_repo / "lightfast.yml"))  # MCP also starts for real below
        if is_synopsis(line):
            variants, named = synopsis_variants(line)
            for option in named:
                chain, _ = resolve(variants[0])
                assert not unknown_options(variants[0][:len(chain) - 1] + [option]), (line, option)
        else:
            variants = [shlex.split(line)[1:]]
        for argv in variants:
            chain, _ = resolve(argv)
            path = tuple(c.name for c in chain[1:])
            assert path, (line, argv)
            if path in HELP_ONLY:
                argv = argv + ["--help"]
            elif path == ("namespaces", "delete"):
                argv = argv + ["--yes"]
                invoke(["ingest", "--store", "scratch"])
            elif path == ("init",):
                fresh = tmp_path / f"fresh{len(ran)}"
                fresh.mkdir()
                monkeypatch.chdir(fresh)
            result = invoke(argv)
            monkeypatch.chdir(docs_repo)
            assert result.exit_code == 0, (line, argv, result.output)
            assert "Traceback" not in result.output
            ran.append(argv)
    assert ["ingest", "--plan"] in ran and ["search", "how does ingest survive a kill"] in ran
    assert ["namespaces", "delete", "scratch", "--remove-record", "--yes"] in ran
    config = str(docs_repo / "lightfast.yml")
    assert ["--config", config, "status"] in ran and ["status", "--config", config] in ran


def test_every_help_has_example_usage_that_names_real_options():
    for path in all_commands():
        result = CliRunner().invoke(cli, [*path, "--help"], env={"COLUMNS": "80"})
        assert result.exit_code == 0, path
        examples = example_lines(result.output)
        assert examples, f"`lightfast {' '.join(path)} --help` has no 'Example usage:' block"
        for line in examples:
            for part in line.split("&&"):
                part = re.split(r"\s+\|\s+|\s>\s", part.strip())[0]
                if " -- lightfast " in part:
                    part = part.split(" -- ", 1)[1]
                words = shlex.split(part)
                assert words[0] == "lightfast", (path, line)
                chain, _ = resolve(words[1:])
                assert len(chain) > 1 or not path, (path, line)
                assert not unknown_options(words[1:]), (path, line)


# -- the README run in a fresh directory, as a person would: real processes, the real model ------------

def _env(home: Path) -> dict:
    bin_dir = str(Path(sys.executable).parent)  # where `lightfast` is installed
    return {**os.environ, "LIGHTFAST_HOME": str(home), "COLUMNS": "80",
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}


@pytest.fixture
def real_repo(tmp_path) -> Path:
    """A tiny repo with the config `lightfast init` writes (the real local model)."""
    root = tmp_path / "real"
    write_files(root, FILES)
    result = subprocess.run(["lightfast", "init"], cwd=root, env=_env(tmp_path / "home"),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return root


def test_setup_commands_in_a_fresh_repo(real_repo, tmp_path):
    block = next(b for b in re.findall(r"```bash\n(.*?)```", README, re.S) if "lightfast ingest" in b)
    commands = [p.strip() for p in block.split("&&") if p.strip().startswith("lightfast ")]
    assert commands == ["lightfast ingest", 'lightfast search "how does ingest survive a kill"']
    for command in commands:
        result = subprocess.run(command, shell=True, cwd=real_repo, env=_env(tmp_path / "home"),
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, (command, result.stderr)
    assert "docs/kill.md" in result.stdout.splitlines()[0]


def _mcp_snippets() -> list[tuple[str, list[str]]]:
    """(command, args) of README's Claude Code line and its Claude Desktop / Cursor JSON."""
    text_block = next(b for b in re.findall(r"```text\n(.*?)```", README, re.S) if "claude mcp add" in b)
    words = shlex.split(text_block.strip().split(" -- ", 1)[1])
    json_block = next(b for b in re.findall(r"```json\n(.*?)```", README, re.S) if "mcpServers" in b)
    server = json.loads(json_block)["mcpServers"]["lightfast"]
    return [(words[0], words[1:]), (server["command"], server["args"])]


@pytest.mark.parametrize("which", [0, 1], ids=["claude-code", "desktop-and-cursor-json"])
def test_readme_mcp_snippet_starts_a_server_with_its_tools(which, real_repo, tmp_path):
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    command, args = _mcp_snippets()[which]
    assert command == "lightfast" and PLACEHOLDER in args
    args = [str(real_repo / "lightfast.yml") if a == PLACEHOLDER else a for a in args]
    errlog = open(tmp_path / "mcp.log", "w+")
    params = StdioServerParameters(command=command, args=args, env=_env(tmp_path / "home"), cwd=str(tmp_path))

    async def tools():
        with anyio.fail_after(120):  # a hang fails the test instead of stalling the suite
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    return {t.name for t in (await session.list_tools()).tools}

    names = anyio.run(tools)
    assert {"search", "read_chunk", "ingest", "ingest_status", "list_namespaces", "namespace_stats"} <= names


def test_watch_as_documented_catches_up_and_stops_on_ctrl_c(real_repo, tmp_path):
    proc = subprocess.Popen(["lightfast", "watch", "--poll"], cwd=real_repo, env=_env(tmp_path / "home"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        for line in proc.stderr:  # wait on what it prints, never on a clock
            seen.append(line)
            if "caught up" in line:
                break
        assert any("caught up" in l for l in seen), seen
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        assert proc.wait(timeout=60) == 0
        assert "stopped" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
