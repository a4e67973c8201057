"""The cost model against hand-computed values, the design's scenarios, and `lightfast cost`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from core.cost import Prices, Workload, compare, corrections, design_scenarios, usage


def test_the_designs_3000_stores_hand_computed():
    p = Prices()
    # 3,000 stores of 10 GB, storage only (the design's scenario).
    # Usage (same in both layouts): 3,000 x 10 GB x $0.33 = $9,900.
    # One index per store: 3,000 indexes / 20 per project = 150 projects;
    #   150 projects / 20 per organization = 7.5 -> 8 organizations; floors 8 x $50 = $400.
    #   Each organization carries $9,900 / 8 = $1,237.50 > $50, so the bill is $9,900.
    # Shared: 3,000 namespaces <= 100,000 -> 1 index, 1 project, 1 organization;
    #   bill max($50, $9,900) = $9,900. Saving: $0.
    # The design: 150 projects x $50 = $7,500, added to $9,900 = $17,400.
    r = compare(Workload(3000, gb_per_store=10, queries_per_store_month=0), p)
    assert r["usage"]["storage"] == pytest.approx(9_900)
    assert r["usage"]["reads"] == 0 and r["usage"]["writes"] == 0
    a, b = r["per_store"], r["shared"]
    assert (a["indexes"], a["projects"], a["organizations"], a["floors"]) == (3000, 150, 8, 400)
    assert a["monthly"] == pytest.approx(9_900)
    assert (b["indexes"], b["projects"], b["organizations"], b["floors"]) == (1, 1, 1, 50)
    assert b["monthly"] == pytest.approx(9_900)
    assert r["savings"] == pytest.approx(0)
    assert r["design_claim"] == {"projects": 150, "minimum": 7_500, "total_minimum": 17_400,
                                 "shared_projects": 1, "shared_minimum": 50}


def test_small_stores_with_reads_and_writes_hand_computed():
    p = Prices()
    # 3,000 stores of 10,000 vectors, 384-d, 1,500 metadata bytes, 40-byte ids.
    # Record: 40 + 1,500 + 4 x 384 = 3,076 bytes; store: 10,000 x 3,076 = 30,760,000 B = 0.03076 GB.
    # Storage: 3,000 x 0.03076 x $0.33 = $30.4524.
    # Reads: 1,000 queries per store, each max(0.25, 0.03076) = 0.25 RU:
    #   3,000 x 1,000 x 0.25 = 750,000 RU x $16/M = $12.00.
    # Writes: 1,000 upserts per store; a request holds min(1,000, 2,000,000 // 3,076 = 650) = 650
    #   records, so 2 requests (minimum 10 WU); 1,000 x 3,076 B = 3,076 KB = 3,076 WU per store;
    #   3,000 x 3,076 = 9,228,000 WU x $4/M = $36.912.
    # Usage: 30.4524 + 12 + 36.912 = $79.3644.
    # One index per store: 150 projects, 8 organizations, each $79.3644 / 8 = $9.92 < $50:
    #   bill 8 x $50 = $400.  Shared: max($50, $79.3644) = $79.3644.  Saving $320.6356.
    w = Workload(3000, vectors_per_store=10_000, dimension=384, metadata_bytes=1_500, id_bytes=40,
                 queries_per_store_month=1_000, upserts_per_store_month=1_000)
    r = compare(w, p)
    assert w.record_bytes() == 3_076 and r["store_gb"] == pytest.approx(0.03076)
    u = usage(w, p)
    assert u.storage == pytest.approx(30.4524)
    assert (u.read_units, u.reads) == (pytest.approx(750_000), pytest.approx(12.0))
    assert (u.write_units, u.writes) == (pytest.approx(9_228_000), pytest.approx(36.912))
    assert r["per_store"]["organizations"] == 8
    assert r["per_store"]["monthly"] == pytest.approx(400)
    assert r["shared"]["monthly"] == pytest.approx(79.3644)
    assert r["savings"] == pytest.approx(320.6356)


def test_write_minimum_per_request():
    # 3 upserts of tiny 100-byte records: 0.3 KB, but 1 request at 5 WU minimum.
    u = usage(Workload(1, vectors_per_store=3, dimension=1, metadata_bytes=56, id_bytes=40,
                       queries_per_store_month=0, upserts_per_store_month=3))
    assert u.write_units == 5


def test_reads_scale_with_the_namespace_size():
    # A 2 GB store: 1 query = 2 RU; 100 stores x 500 queries x 2 RU = 100,000 RU = $1.60.
    u = usage(Workload(100, gb_per_store=2.0, queries_per_store_month=500))
    assert u.read_units == pytest.approx(100_000) and u.reads == pytest.approx(1.6)


def test_design_scenarios():
    rows = design_scenarios()
    assert [r["workload"]["stores"] for r in rows] == [1000, 3000, 10000, 25000, 50000]
    assert all(r["shared"]["indexes"] == 1 for r in rows)  # 100,000 namespaces per index today
    # 50,000 stores: 2,500 projects in 125 organizations (the design: 2,500 projects, $125,000).
    last = rows[-1]
    assert (last["per_store"]["projects"], last["per_store"]["organizations"]) == (2500, 125)
    assert last["design_claim"]["minimum"] == 125_000 and last["design_claim"]["shared_projects"] == 2
    # 10 GB per store passes every floor: both layouts bill the storage.
    assert all(r["per_store"]["monthly"] == pytest.approx(r["shared"]["monthly"]) for r in rows)


def test_prices_are_configurable_and_dated():
    p = Prices()
    assert p.as_of == "2026-11-24" and "Pinecone" in p.source
    # The design's limit of 25,000 namespaces per index: 50,000 stores need 2 shared indexes.
    r = compare(Workload(50_000, gb_per_store=10, queries_per_store_month=0), Prices(namespaces_per_index=25_000))
    assert r["shared"]["indexes"] == 2 and r["shared"]["projects"] == 1
    # $0 storage: only the floors remain, 8 organizations vs 1.
    r = compare(Workload(3000, gb_per_store=10, queries_per_store_month=0), Prices(storage_per_gb_month=0))
    assert (r["per_store"]["monthly"], r["shared"]["monthly"]) == (400, 50)


def test_corrections_name_what_is_out_of_date():
    text = " ".join(corrections())
    assert "per organization, not per project" in text
    assert "8 organizations" in text
    assert "100,000 namespaces per index" in text and "25,000" in text
    assert "floor" in text


def test_cli_cost(repo, service_factory, monkeypatch):
    from conftest import write_files
    from lightfast_cli.main import cli

    monkeypatch.setenv("COLUMNS", "200")
    write_files(repo, {"a.md": "# A\n\nalpha\n", "b.py": "def b():\n    return 1\n"})
    service_factory(repo).ingest()
    config = str(repo / "lightfast.yml")
    result = CliRunner().invoke(cli, ["--config", config, "cost", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [r["workload"]["stores"] for r in data["rows"]] == [1000, 3000, 10000, 25000, 50000]
    assert data["this_mirror"]["figures"]["stores"] == 2 and data["this_mirror"]["figures"]["dimension"] == 64
    assert data["this_mirror"]["cost"]["shared"]["monthly"] == 50
    result = CliRunner().invoke(cli, ["--config", config, "cost", "--stores", "3000", "--gb-per-store", "10",
                                      "--queries-per-store", "0", "--storage-price", "0", "--json"])
    data = json.loads(result.output)
    assert data["overridden"] == ["storage_per_gb_month"]
    assert (data["rows"][0]["per_store"]["monthly"], data["rows"][0]["shared"]["monthly"]) == (400, 50)
    result = CliRunner().invoke(cli, ["--config", config, "cost"])
    assert result.exit_code == 0
    for text in ("50,000", "as of 2026-11-24", "per organization, not per project", "(mirror)", "17,400"):
        assert text in result.output


def test_cli_cost_without_a_config(tmp_path, monkeypatch):
    from lightfast_cli.main import cli

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["cost", "--stores", "10"])
    assert result.exit_code == 0, result.output
    assert "no mirror figures" in result.output
    result = CliRunner().invoke(cli, ["cost", "--help"])
    assert "as of 2026-11-24" in result.output
