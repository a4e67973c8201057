"""Architecture rules that a refactor could silently break."""

from __future__ import annotations

import subprocess
import sys


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


def test_the_tui_goes_through_the_service():
    """The TUI imports from core only the service (and its types) and the errors (STYLE.md)."""
    import ast
    from pathlib import Path

    allowed = {"core.service", "core.errors"}
    found = {}
    for path in Path(__file__).parents[1].joinpath("lightfast_tui").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module] if isinstance(node, ast.ImportFrom) and node.module
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                if name.split(".")[0] == "core" and name not in allowed:
                    found.setdefault(name, []).append(path.name)
    assert not found, found
