"""README.md stays true: its test command is CI's, and every command it shows exists."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from lightfast_cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_ci_runs_exactly_the_readme_test_command():
    ci_lines = [l.strip() for l in (ROOT / ".ci" / "run").read_text().splitlines()]
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    test_command = next(b.strip() for b in blocks if "pytest" in b)
    assert test_command in ci_lines


def test_every_lightfast_command_in_the_readme_exists():
    shown = set(re.findall(r"`lightfast ([a-z-]+(?: [a-z-]+)?)", README))
    assert shown, "README shows no command"
    for words in shown:
        parts = words.split()
        result = CliRunner().invoke(cli, [*parts, "--help"])
        if result.exit_code != 0:  # a second word may be an argument, not a subcommand
            result = CliRunner().invoke(cli, [parts[0], "--help"])
        assert result.exit_code == 0, (words, result.output)


def test_example_config_is_documented_and_valid():
    from core.config import load_config

    config = load_config(ROOT / "lightfast.example.yml")
    assert config.stores
    load_config(ROOT / "lightfast.yml")
