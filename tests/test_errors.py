"""One error hierarchy (STYLE.md): core raises specific subclasses of LightfastError, all declared
in core/errors.py, and catches only the errors it means to handle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import core.errors
import core.service
from conftest import write_files
from core.errors import DimensionMismatchError, LightfastError

CORE = Path(__file__).parents[1] / "core"
ERRORS = {name for name, obj in vars(core.errors).items() if isinstance(obj, type) and issubclass(obj, Exception)}


def _modules(*packages: str):
    for package in packages:
        for path in sorted((CORE.parent / package).rglob("*.py")):
            yield path.relative_to(CORE.parent), ast.parse(path.read_text(), str(path))


def _core_modules():
    return _modules("core")


def _name(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Call):
        node = node.func
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None


def test_neither_core_nor_a_face_raises_the_bare_base_class():
    bare = [f"{path}:{node.lineno}" for path, tree in _modules("core", "lightfast_cli", "lightfast_tui", "mcp_server")
            for node in ast.walk(tree)
            if isinstance(node, ast.Raise) and _name(node.exc) == "LightfastError"]
    assert bare == []


def test_every_error_class_lives_in_core_errors():
    elsewhere = [f"{path}:{node.lineno} {node.name}" for path, tree in _core_modules()
                 if path.as_posix() != "core/errors.py" for node in ast.walk(tree)
                 if isinstance(node, ast.ClassDef) and any(_name(b) in ERRORS for b in node.bases)]
    assert elsewhere == []


def test_every_error_says_in_one_line_what_it_is_for():
    classes = [obj for obj in vars(core.errors).values() if isinstance(obj, type) and issubclass(obj, LightfastError)]
    assert len(classes) > 20
    for cls in classes:
        doc = cls.__dict__.get("__doc__") or ""
        assert doc.strip() and "\n" not in doc.strip(), cls.__name__
        assert isinstance(cls.exit_code, int) and cls.exit_code >= 1, cls.__name__


def test_a_full_disk_is_a_storage_error_from_core_errors(tmp_path):
    import errno

    from core.storage import storage_guard

    with pytest.raises(core.errors.StorageError, match="No space left on device.*nothing committed was lost") as info:
        with storage_guard(tmp_path):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert info.value.exit_code == 8


@pytest.fixture
def two_stores(built, repo):
    write_files(repo, {"nest.py": "def falcon_nest():\n    return 'the falcon nests near the lake'\n"})
    built.ingest(stores=["code"])
    return built


def test_search_skips_a_namespace_of_another_model_and_says_why(two_stores, monkeypatch):
    seen = []

    def first_of_another_model(record, profile):
        seen.append(record)
        if len(seen) == 1:
            raise DimensionMismatchError("this namespace was built with another model")

    monkeypatch.setattr(core.service, "check_model", first_of_another_model)
    result = two_stores.search("falcon", scope="workspace", top_k=3)
    assert len(seen) == 2
    assert list(result.failed.values()) == ["this namespace was built with another model"]
    assert result.hits and len({h.namespace for h in result.hits}) == 1


def test_search_lets_our_own_bug_through_instead_of_reporting_it_as_a_namespace_failure(two_stores, monkeypatch):
    def buggy(record, profile):
        raise TypeError("a bug in check_model")

    monkeypatch.setattr(core.service, "check_model", buggy)
    with pytest.raises(TypeError, match="a bug in check_model"):
        two_stores.search("falcon", scope="workspace", top_k=3)


def test_a_failing_namespace_is_reported_but_a_bug_in_its_query_is_not_hidden(two_stores, monkeypatch):
    from core.errors import BackendError
    from core.vectors.local_index import LocalIndex

    real = LocalIndex.query
    calls = []

    def first_fails(self, namespace, *args, **kwargs):
        calls.append(namespace)
        if len(calls) == 1:
            raise failure
        return real(self, namespace, *args, **kwargs)

    monkeypatch.setattr(LocalIndex, "query", first_fails)
    failure = BackendError("the index went away")
    result = two_stores.search("falcon", scope="workspace", top_k=3, mode="dense")
    assert list(result.failed.values()) == ["the index went away"] and result.hits

    calls.clear()
    failure = TypeError("a bug in the query path")
    with pytest.raises(TypeError, match="a bug in the query path"):
        two_stores.search("falcon", scope="workspace", top_k=3, mode="dense")
