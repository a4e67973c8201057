"""Architecture rules that a refactor could silently break."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest


def loaded_modules(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
        capture_output=True, text=True, check=True,
    ).stdout
    return {line.split(".")[0] for line in out.splitlines()}


def test_core_knows_nothing_of_its_faces_or_heavy_sdks():
    mods = loaded_modules(
        "import core.service, core.search, core.ingest, core.mirror, core.config, core.factory, "
        "core.chunking, core.scan, core.namespaces, core.plan, core.watch, core.migrate, core.stats, "
        "core.cost, core.isolation, core.storage, core.retry, core.vectors.local"
    )
    for face in ("textual", "mcp", "lightfast_tui", "mcp_server", "lightfast_cli"):
        assert face not in mods, face
    # Lazy backends: the local profile never imports the cloud SDKs or torch.
    for heavy in ("pinecone", "cohere", "torch", "sentence_transformers"):
        assert heavy not in mods, heavy


def test_cli_help_does_not_load_the_model_or_faces():
    mods = loaded_modules(
        "import sys; sys.argv = ['lightfast', '--help']\n"
        "from lightfast_cli.main import cli\n"
        "try:\n    cli(prog_name='lightfast')\nexcept SystemExit:\n    pass"
    )
    for heavy in ("textual", "mcp", "tokenizers", "safetensors", "pinecone", "cohere"):
        assert heavy not in mods, heavy


ROOT = Path(__file__).resolve().parents[1]
FACES = ("lightfast_cli", "lightfast_tui", "mcp_server")
#: All a face may import of core (STYLE.md): the service, the types it hands out, the errors.
FACE_ROAD = {"core.service", "core.types", "core.errors"}
#: mcp_server's imports that the `mcpclass` rewrite removes (the same exceptions as its
#: import-linter contract in pyproject.toml); the lead empties this at merge.
MCP_EXCEPTIONS = {"core.tokens", "core.config", "core.watch"}


def core_imports(path: Path) -> set[str]:
    """The core modules a file imports, wherever the import sits (top, function, TYPE_CHECKING)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = ([node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level
                 else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
        found.update(n for n in names if n.split(".")[0] == "core")
    return found


FACE_MODULES = sorted(p.relative_to(ROOT).as_posix() for face in FACES for p in (ROOT / face).rglob("*.py"))


@pytest.mark.parametrize("module", FACE_MODULES)
def test_each_face_module_goes_through_the_service(module):
    """Every module of the CLI, the TUI and the MCP server imports from core only the service,
    core.types and core.errors (STYLE.md; the same rule as the import-linter contracts)."""
    allowed = FACE_ROAD | (MCP_EXCEPTIONS if module.startswith("mcp_server/") else set())
    assert core_imports(ROOT / module) <= allowed, core_imports(ROOT / module) - allowed


def test_the_import_contracts_hold():
    """pyproject.toml's [tool.importlinter] contracts, checked as CI checks them."""
    run = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
                          "sys.exit(lint_imports(no_cache=True, no_logo=True))"],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Contracts: 3 kept, 0 broken." in run.stdout, run.stdout


def test_the_import_contracts_catch_a_face_reaching_past_the_service(tmp_path):
    """The same contracts over a small tree whose CLI imports core.stats and whose core imports
    the TUI: both contracts break, naming the import (a contract that cannot fail proves nothing)."""
    files = {
        "core/__init__.py": "", "core/service.py": "import core.stats\n", "core/stats.py": "",
        "core/errors.py": "", "core/types.py": "", "core/bad.py": "import lightfast_tui.app\n",
        "lightfast_cli/__init__.py": "", "lightfast_cli/main.py": "import core.service\n",
        "lightfast_cli/cmd_stats.py": "from core.stats import run_sql\n",
        "lightfast_tui/__init__.py": "", "lightfast_tui/app.py": "from core.errors import LightfastError\n",
        "mcp_server/__init__.py": "", "mcp_server/server.py": "from core.service import Lightfast\n",
        "pyproject.toml": (ROOT / "pyproject.toml").read_text(encoding="utf-8"),
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    run = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, '.'); "
                          "from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True))"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Contracts: 1 kept, 2 broken." in run.stdout, run.stdout
    assert "lightfast_cli.cmd_stats -> core.stats" in run.stdout
    assert "core.bad -> lightfast_tui.app" in run.stdout
