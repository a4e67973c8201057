"""Names a source file defines, with the line each definition starts on.

Chunking records, per chunk, the names whose definition starts inside it, so an
identifier query can find where a name is defined. Python is parsed with `ast`
(functions, classes and methods as `Class.method`, module-level constants);
other code, and Python that does not parse, falls back to a line pattern for
the common definition keywords.
"""

from __future__ import annotations

import ast
import re

CODE_SUFFIXES = {
    ".py", ".pyi", ".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".go", ".rs", ".java", ".kt",
    ".rb", ".php", ".c", ".h", ".cc", ".cpp", ".hpp", ".cs", ".swift", ".scala", ".sh",
}
# `def name`, `class Name`, `function name`, `fn name`, `func (r T) Name`, `struct Name`, ...
_PATTERN = re.compile(
    r"^\s*(?:export\s+)?(?:default\s+)?(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?"
    r"(?:def|class|function|fn|func(?:\s*\([^)]*\))?|struct|enum|interface|trait|type|impl)\s+"
    r"([A-Za-z_$][\w$]*)"
)


def definitions(text: str, path: str) -> list[tuple[int, str]]:
    """(1-based line, name) of each definition in the file, in line order; [] for prose."""
    suffix = path[path.rfind("."):].lower() if "." in path else ""
    if suffix not in CODE_SUFFIXES:
        return []
    if suffix in (".py", ".pyi"):
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError):
            pass
        else:
            found: list[tuple[int, str]] = []
            _walk(tree, "", found)
            return sorted(found)
    return [(n, m.group(1)) for n, line in enumerate(text.splitlines(), 1) if (m := _PATTERN.match(line))]


def _walk(node: ast.AST, prefix: str, found: list[tuple[int, str]]) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = prefix + child.name
            found.append((child.lineno, name))
            if isinstance(child, ast.ClassDef):  # methods as Class.method; nested functions stay private
                _walk(child, name + ".", found)
        elif not prefix and isinstance(child, (ast.Assign, ast.AnnAssign)):
            targets = child.targets if isinstance(child, ast.Assign) else [child.target]
            for target in targets:  # module-level NAMES = ... (constants, aliases)
                if isinstance(target, ast.Name):
                    found.append((child.lineno, target.id))


def symbols_between(defs: list[tuple[int, str]], start_line: int, end_line: int) -> tuple[str, ...]:
    """Names whose definition starts within these lines (inclusive), without repeats."""
    return tuple(dict.fromkeys(name for line, name in defs if start_line <= line <= end_line))
