"""A damaged local index never gives a silent wrong answer, and says which command recovers it.

Each case damages a real index built by a real ingest, the way a disk error or a stray write
would, then checks what search, ingest and the namespace listing say, and that the named
command recovers.
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from conftest import BIRD_FILES as FILES
from conftest import BIRDS_NS as NS
from core.errors import IndexDamagedError, LightfastError




def _folder(service):
    return service.index.namespace_folder(NS)


def _row_of(service, path: str) -> tuple[int, int]:
    conn = sqlite3.connect(_folder(service) / "meta.sqlite")
    try:
        for slab, row, meta in conn.execute("SELECT slab, row, metadata FROM vectors"):
            if json.loads(meta)["path"] == path:
                return slab, row
    finally:
        conn.close()
    raise AssertionError(path)


def _fresh(service, service_factory, repo):
    """A new service (a new process would see the files as they are on disk now)."""
    return service_factory(repo)


def _assert_recovered_by(message: str, command: str) -> None:
    assert f"`{command}`" in message, message


def _no_silent_answer(result) -> None:
    for hit in result.hits:
        assert math.isfinite(hit.score)
    assert NS in result.failed, "the damaged namespace must be reported, not silently missing"


def _overwrite_row(service, path: str, raw: bytes) -> Path:
    """Write raw over the slab row holding path's vector, as a stray write would; the slab file."""
    slab, row = _row_of(service, path)
    slab_file = _folder(service) / f"slab-{slab:06d}.f32"
    with open(slab_file, "r+b") as f:
        f.seek(row * service.index.dimension * 4)
        f.write(raw)
    return slab_file


def _row_bytes(service, path: str) -> bytes:
    slab, row = _row_of(service, path)
    size = service.index.dimension * 4
    with open(_folder(service) / f"slab-{slab:06d}.f32", "rb") as f:
        f.seek(row * size)
        return f.read(size)


def _as_layout_1(folder) -> None:
    """Strip a namespace back to layout 1 (no checksums, no dead-row bitmaps), as older versions wrote it."""
    conn = sqlite3.connect(folder / "meta.sqlite")
    try:
        conn.executescript("DROP TABLE segments; DROP TABLE dead_rows; DROP INDEX vectors_place; PRAGMA user_version=1;")
    finally:
        conn.close()


GARBAGE = {  # what lands over falcon's row
    "nan": lambda service: b"\xff" * 4 * service.index.dimension,
    "inf": lambda service: np.float32(np.inf).tobytes() * service.index.dimension,
    "finite-0x01": lambda service: b"\x01" * 4 * service.index.dimension,  # tiny finite floats, not NaN
    "another-row": lambda service: _row_bytes(service, "heron.md"),  # sound floats, wrong place
}


@pytest.mark.parametrize("garbage", list(GARBAGE))
def test_bytes_changed_in_a_slab_are_an_error_never_a_wrong_ranking(built, repo, service_factory, garbage):
    slab_file = _overwrite_row(built, "falcon.md", GARBAGE[garbage](built))  # the reproduction of #15 item 2
    service = _fresh(built, service_factory, repo)
    result = service.search("about the falcon", stores=["docs"], top_k=3)
    assert result.hits == []  # nothing ranked from the damaged namespace, falcon.md 9th least of all
    _no_silent_answer(result)
    message = result.failed[NS]
    assert message.startswith(f"{slab_file}: rows 0 to ") and "no longer match their checksum" in message
    assert f"namespace '{NS}'" in message
    _assert_recovered_by(message, "lightfast ingest --full --store docs")
    with pytest.raises(IndexDamagedError):
        service.index.query(NS, np.ones(service.index.dimension), 3)
    with pytest.raises(IndexDamagedError):
        service.index.fetch(NS, ["anything"])

    service.ingest(stores=["docs"])  # a plain ingest changes nothing and the error stays: not silent
    assert NS in _fresh(built, service_factory, repo).search("about the falcon", stores=["docs"]).failed
    service.ingest(stores=["docs"], full=True)  # the command the message names
    for reader in (service, _fresh(built, service_factory, repo)):  # this process, and a new one
        hits = reader.search("about the falcon", stores=["docs"], top_k=10).hits
        assert hits[0].path == "falcon.md" and {h.path for h in hits} == set(FILES)


@pytest.mark.parametrize("garbage", ["nan", "inf"])
def test_nan_or_inf_without_a_checksum_still_never_reaches_a_result(built, repo, service_factory, garbage):
    """A namespace of layout 1 damaged before its upgrade: the upgrade checksums the bytes it
    finds, and the query's own finiteness check names the rows."""
    slab_file = _overwrite_row(built, "falcon.md", GARBAGE[garbage](built))
    _as_layout_1(_folder(built))
    service = _fresh(built, service_factory, repo)
    result = service.search("about the falcon", stores=["docs"], top_k=3)
    assert result.hits == []
    _no_silent_answer(result)
    message = result.failed[NS]
    assert message.startswith(f"{slab_file}: 1 row holds NaN or infinite values")
    _assert_recovered_by(message, "lightfast ingest --full --store docs")

    service.ingest(stores=["docs"], full=True)
    assert service.search("about the falcon", stores=["docs"], top_k=1).hits[0].path == "falcon.md"


def test_a_truncated_slab_is_a_clear_error_and_ingest_full_recovers(built, repo, service_factory):
    slab, _ = _row_of(built, "falcon.md")
    slab_file = _folder(built) / f"slab-{slab:06d}.f32"
    with open(slab_file, "r+b") as f:
        f.truncate(3 * built.index.dimension * 4 + 100)  # three rows and a bit of the fourth
    service = _fresh(built, service_factory, repo)
    result = service.search("about the falcon", stores=["docs"], top_k=3)
    _no_silent_answer(result)
    message = result.failed[NS]
    assert message.startswith(f"{slab_file}: holds ") and "it was truncated" in message
    assert "mmap length" not in message and "kept changing" not in message
    _assert_recovered_by(message, "lightfast ingest --full --store docs")

    service.ingest(stores=["docs"])  # a plain ingest changes nothing and the error stays: not silent
    assert NS in service.search("about the falcon", stores=["docs"]).failed
    service.ingest(stores=["docs"], full=True)
    hits = service.search("about the falcon", stores=["docs"], top_k=10).hits
    assert hits[0].path == "falcon.md" and {h.path for h in hits} == set(FILES)


def test_garbage_in_a_namespaces_meta_sqlite(built, repo, service_factory):
    db = _folder(built) / "meta.sqlite"
    with open(db, "r+b") as f:  # the reproduction: garbage at offset 100
        f.seek(100)
        f.write(b"garbage!" * 64)
    service = _fresh(built, service_factory, repo)
    result = service.search("about the falcon", stores=["docs"])
    _no_silent_answer(result)
    recovery = "lightfast namespaces delete docs --yes` and then `lightfast ingest --store docs"
    assert result.failed[NS].startswith(f"{db}: ") and recovery in result.failed[NS]
    for action in (lambda: service.ingest(stores=["docs"], full=True), service.namespaces):
        with pytest.raises(IndexDamagedError) as info:  # never a raw sqlite3.DatabaseError
            action()
        assert str(info.value).startswith(f"{db}: ") and recovery in str(info.value)

    service.delete_namespace("docs")  # works without reading the damaged file
    service.ingest(stores=["docs"])
    assert service.search("about the falcon", stores=["docs"], top_k=1).hits[0].path == "falcon.md"


def test_a_missing_meta_sqlite_is_named(built, repo, service_factory):
    db = _folder(built) / "meta.sqlite"
    db.unlink()
    service = _fresh(built, service_factory, repo)
    result = service.search("about the falcon", stores=["docs"])
    _no_silent_answer(result)
    assert result.failed[NS].startswith(f"{db}: missing") and "kept changing" not in result.failed[NS]
    service.delete_namespace("docs")
    service.ingest(stores=["docs"])
    assert service.search("about the falcon", stores=["docs"], top_k=1).hits[0].path == "falcon.md"


@pytest.mark.parametrize("garbage", ['{garb', '[]', '{"name": "x"}', '{"name": "x", "dimension": 64, "metric": "l3"}'])
def test_garbage_in_index_json(built, repo, service_factory, garbage):
    index_json = built.index.folder / "index.json"
    index_json.write_text(garbage)
    service = _fresh(built, service_factory, repo)
    for action in (lambda: service.search("falcon", stores=["docs"]), lambda: service.ingest(stores=["docs"])):
        with pytest.raises(IndexDamagedError) as info:  # never a raw JSONDecodeError or KeyError
            action()
        message = str(info.value)
        assert message.startswith(f"{index_json}: not a valid index description")
        assert "lightfast ingest --full" in message and "mv " in message
    assert isinstance(info.value, LightfastError) and info.value.exit_code == 5

    damaged = built.index.folder
    damaged.rename(damaged.parent / f".{damaged.name}.damaged")  # the recovery the message gives
    service = _fresh(built, service_factory, repo)
    service.ingest(stores=["docs"], full=True)
    assert service.search("about the falcon", stores=["docs"], top_k=1).hits[0].path == "falcon.md"
    assert service.backend.list_indexes() == [damaged.name]
