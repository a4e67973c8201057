"""Overflow routing (issue 19.2): with a namespace limit of 4 and an alert at 75%, new
organizations go to the overflow index once the first holds 3 namespaces; an organization
stays in its index until it is full; search, read_chunk, delete, namespaces and stats
follow each record to the index that holds it."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import TEST_PROFILE, write_files
from core.config import load_config
from core.errors import ConfigError, NamespaceLimitError
from core.service import Lightfast
from lightfast_cli.main import cli

PRIMARY, OVERFLOW = "lightfast-test-v1", "lightfast-test-b"

PROFILES = TEST_PROFILE + """  test-b:
    backend: local
    name: lightfast-test-b
    embedding_provider: local
    embedding_model: hash-test
    dimension: 64
limits:
  namespace_limit: 4
  alert_threshold: 0.75
  overflow:
    test: [test-b]
"""


def repo_for(root: Path, org: str, ws: str, stores: list[str], word: str, profiles: str = PROFILES) -> Path:
    """A repo of one organization and workspace whose stores each hold a file about `word`."""
    repo = root / f"{org}-{ws}"
    write_files(repo, {f"{slug}/{word}.md": f"# {word}\n\nThe {word} of {org} {ws} {slug}.\n" for slug in stores})
    listed = "\n".join(f'  - slug: {slug}\n    include: ["{slug}/**"]' for slug in stores)
    (repo / "lightfast.yml").write_text(
        f"organization: {org}\nworkspace: {ws}\nenvironment: test\nstores:\n{listed}\n"
        + textwrap.dedent(profiles), encoding="utf-8")
    return repo


@pytest.fixture
def world(tmp_path, lightfast_home, hash_embedder):
    """Six workspaces ingested in this order; the comments say where each namespace must go."""
    plan = [
        ("acme", "one", ["docs", "code"], "heron"),   # A: 2
        ("globex", "main", ["docs"], "walrus"),       # A: 3, the alert threshold (75% of 4)
        ("initech", "main", ["docs"], "otter"),       # a new organization -> B
        ("acme", "two", ["docs"], "badger"),          # acme lives in A, which has room -> A: 4
        ("acme", "three", ["docs"], "pelican"),       # A is full: acme must span -> B
        ("acme", "four", ["docs"], "lynx"),           # acme's last index is B -> B
    ]
    services = {}
    for org, ws, stores, word in plan:
        repo = repo_for(tmp_path, org, ws, stores, word)
        service = Lightfast(load_config(repo / "lightfast.yml"), lightfast_home, embedder=hash_embedder)
        service.ingest()
        services[(org, ws)] = service
    return services


def where(service) -> dict[str, tuple[str, str]]:
    return {r.namespace_name: (r.index_name, r.index_profile) for r in service.mirror.namespaces()}


def physical(service, index_name: str) -> set[str]:
    return {s.namespace for s in service.backend.index(index_name).list_namespaces()}


def test_new_namespaces_route_per_organization_and_the_record_says_where(world):
    service = world[("acme", "one")]
    assert where(service) == {
        "org_acme:ws_one:store_docs": (PRIMARY, "test"),
        "org_acme:ws_one:store_code": (PRIMARY, "test"),
        "org_globex:ws_main:store_docs": (PRIMARY, "test"),
        "org_initech:ws_main:store_docs": (OVERFLOW, "test-b"),
        "org_acme:ws_two:store_docs": (PRIMARY, "test"),
        "org_acme:ws_three:store_docs": (OVERFLOW, "test-b"),
        "org_acme:ws_four:store_docs": (OVERFLOW, "test-b"),
    }
    # The vectors are where the records say, and nowhere else.
    assert physical(service, PRIMARY) == {n for n, (i, _) in where(service).items() if i == PRIMARY}
    assert physical(service, OVERFLOW) == {n for n, (i, _) in where(service).items() if i == OVERFLOW}


def test_organization_search_and_read_chunk_reach_the_overflow_index(world):
    service = world[("acme", "one")]
    result = service.search("pelican", scope="organization", top_k=3)
    assert result.hits[0].namespace == "org_acme:ws_three:store_docs"  # lives in the overflow index
    assert not result.failed
    assert set(result.namespaces) == {n for n in where(service) if n.startswith("org_acme:")}
    chunk = service.read_chunk(result.hits[0].vector_id, namespace=result.hits[0].namespace)
    assert "pelican" in chunk["chunks"][0]["text"]
    # A store's own search in the overflow index, from its own configuration.
    own = world[("acme", "three")].search("pelican", top_k=1)
    assert own.hits[0].path == "docs/pelican.md"


def test_namespaces_see_both_indexes_and_flag_nothing(world):
    rows = world[("acme", "one")].namespaces()
    assert {r.namespace_name for r in rows} == {n for n in where(world[("acme", "one")]) if n.startswith("org_acme:")}
    assert all(r.only_in is None and r.index_vectors == r.vectors for r in rows)
    browsed = world[("acme", "one")].browse_namespaces()  # the TUI's view: every organization
    assert len(browsed) == 7 and all(r.only_in is None and r.index_vectors == r.vectors for r in browsed)
    from core.migrate import reconcile

    assert reconcile(world[("acme", "one")]) == (5, [])  # id by id, each in the index its record names


def test_delete_routes_to_the_record_and_stats_count_per_index(world, monkeypatch, tmp_path):
    service = world[("acme", "three")]
    before_primary = physical(service, PRIMARY)
    config = str(service.config.source_path)
    result = CliRunner().invoke(cli, ["--config", config, "namespaces", "delete", "docs", "--remove-record", "--yes"],
                                env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "org_acme:ws_three:store_docs" not in physical(service, OVERFLOW)
    assert physical(service, PRIMARY) == before_primary
    result = CliRunner().invoke(cli, ["--config", config, "stats", "--json"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    per_index = {r["index_name"]: r["namespaces"] for r in json.loads(result.output)["namespace_limit"]}
    assert per_index == {PRIMARY: 4, OVERFLOW: 2}
    text = CliRunner().invoke(cli, ["--config", config, "stats"], env={"COLUMNS": "80"}).output
    assert "alert:" in text and PRIMARY in text
    assert "overflow: test (lightfast-test-v1) -> test-b (lightfast-test-b)" in text


def test_every_index_full_is_an_error_that_says_what_to_do(tmp_path, lightfast_home, hash_embedder, world):
    repo = repo_for(tmp_path, "hooli", "main", ["a", "b", "c"], "crane")
    service = Lightfast(load_config(repo / "lightfast.yml"), lightfast_home, embedder=hash_embedder)
    service.ingest(["a"])  # B holds 3 of 4: the last place
    with pytest.raises(NamespaceLimitError, match=r"limits\.overflow\.test"):
        service.ingest(["b"])
    assert where(service)["org_hooli:ws_main:store_a"] == (OVERFLOW, "test-b")


def test_without_overflow_nothing_moves(tmp_path, lightfast_home, hash_embedder):
    single = PROFILES.split("limits:")[0] + "limits:\n  namespace_limit: 4\n  alert_threshold: 0.75\n"
    repo = repo_for(tmp_path, "acme", "solo", ["a", "b", "c", "d"], "crane", single)
    service = Lightfast(load_config(repo / "lightfast.yml"), lightfast_home, embedder=hash_embedder)
    service.ingest()
    assert {i for i, _ in where(service).values()} == {PRIMARY}


@pytest.mark.parametrize("overflow, message", [
    ("test: [nope]", "limits.overflow.test: unknown profile 'nope'"),
    ("nope: [test-b]", "limits.overflow.nope: unknown profile 'nope'"),
    ("test: [test-b, test-b]", "appears twice"),
    ("test: [local]", "profile 'local' has embedding_model 'all-MiniLM-L6-v2' but 'test' has 'hash-test'"),
])
def test_overflow_config_errors_name_the_line(tmp_path, overflow, message):
    text = PROFILES.replace("test: [test-b]", overflow)
    repo = repo_for(tmp_path, "acme", "one", ["docs"], "heron", text)
    lines = (repo / "lightfast.yml").read_text().splitlines()
    line = next(n for n, l in enumerate(lines, 1) if l.strip() == overflow)
    with pytest.raises(ConfigError) as error:
        load_config(repo / "lightfast.yml")
    assert f"lightfast.yml:{line}: " in str(error.value) and message in str(error.value)


def test_m007_records_existing_namespaces_in_their_environments_index(tmp_path):
    """A mirror made before overflow routing: every existing record lives in its environment's index."""
    import sqlite_utils

    from core.mirror import Mirror, migrations

    path = tmp_path / "mirror.sqlite"
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m007_namespace_index")
    db["namespaces"].insert({
        "id": "staging/acme/web/docs", "organization_id": "acme", "workspace_id": "web", "store_slug": "docs",
        "namespace_name": "org_acme:ws_web:store_docs", "environment": "staging",
        "index_name": "lightfast-staging-v1", "chunk_max_tokens": 256, "chunk_overlap": 32,
        "embedding_provider": "cohere", "embedding_model": "embed-english-v3.0", "embedding_dim": 1024,
        "created_at": "2026-01-01", "updated_at": "2026-01-01"})
    db.close()
    mirror = Mirror(path)  # applies m007
    assert mirror.namespace_by_id("staging/acme/web/docs").index_profile == "staging"
    assert mirror.namespaces_per_index() == {"lightfast-staging-v1": 1}
