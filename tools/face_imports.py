"""Print, per face module, the core modules it imports directly (the import graph issue #20 asks for).

Reads the source with ast (nothing is imported or run), so it shows what a module names,
wherever the import sits: at the top, inside a function, or under TYPE_CHECKING.

    python tools/face_imports.py
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FACES = ("lightfast_cli", "lightfast_tui", "mcp_server")


def core_imports(path: Path) -> list[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found.update(n for n in names if n == "core" or n.startswith("core."))
    return sorted(found)


def main() -> int:
    used: set[str] = set()
    for face in FACES:
        for path in sorted((ROOT / face).rglob("*.py")):
            mods = core_imports(path)
            used.update(mods)
            if mods:
                print(f"{path.relative_to(ROOT)}: {', '.join(mods)}")
    print(f"core modules the faces import: {len(used)}: {', '.join(sorted(used))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
