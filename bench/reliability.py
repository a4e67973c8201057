"""Reliability figures, every one counted by a test or measured here, none written by hand.

    python bench/reliability.py            # full size: 50 kills, 120 s of concurrency
    python bench/reliability.py --quick    # 5 kills, 10 s (a check that the script works)

1. tests/test_reliability.py at full size (SIGKILLed ingests, watcher + MCP server +
   CLI on one data dir, faults against the wire-format servers, hostile files, MCP
   fuzzing, secrets, disk full, a read-only data dir): the totals each test records.
2. The hostile inputs of issue #15, one group per item: the test cases pytest ran for
   it (parametrized cases counted one by one), passed, failed, skipped, read from
   pytest's JUnit XML report.
3. Secret detection: the files of the FastAPI docs corpus (../shared/data/corpora/fastapi)
   core/secret_scan.py flags (false positives, with the kind), and its cost against the
   format patterns alone, measured side by side.
4. Corruption: bench/corruption.py's run(workdir) (cases, silent wrong answers,
   recovered by the documented command), or "not available" without it.

Output: bench/results/reliability.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from _common import RESULTS, ROOT, SHARED, write_results

#: Issue #15's hostile inputs -> the tests built from each reproduction (pytest node ids).
HOSTILE = {
    "1 non-UTF-8 and odd file names (ingest, ingest PATHS, watcher)": ["tests/test_file_names.py"],
    "2 damaged index files": ["tests/test_index_damage.py"],
    "4 hostile lightfast.yml (alias bombs, tags, nesting, FIFO, size)": [
        "tests/test_config.py::test_malformed_config_names_file_line_and_field",
        "tests/test_config.py::test_deep_nesting_and_alias_bombs_fail_cleanly",
        "tests/test_config.py::test_only_regular_files_of_at_most_1_mb",
        "tests/test_config.py::test_the_cli_maps_hostile_configs_to_exit_2",
        "tests/test_reliability.py::test_any_text_as_lightfast_yml_is_a_config_or_a_clear_error",
        "tests/test_reliability.py::test_any_yaml_structure_is_a_config_or_a_clear_error",
    ],
    "5 a typo in root or the globs (removal guard, --plan shows it)": ["tests/test_guards.py"],
    "6 index names that are paths": [
        "tests/test_local_index.py::test_index_names_follow_pinecones_rule_so_none_is_a_path",
        "tests/test_local_index.py::test_no_index_or_namespace_folder_resolves_outside_the_data_dir",
    ],
    "7 the watcher feeding on itself": [
        "tests/test_watch.py::test_watch_logging_into_the_repo_does_not_feed_on_itself",
        "tests/test_watch.py::test_saves_that_change_no_content_write_nothing",
        "tests/test_watch.py::test_changes_no_store_sees_cause_no_ingest",
    ],
    "8 secrets (a test per format, docs that must pass)": [
        "tests/test_scan.py::test_secret_formats_are_found_by_kind_and_line_never_by_value",
        "tests/test_scan.py::test_ordinary_docs_are_not_secrets",
        "tests/test_scan.py::test_a_secret_file_is_skipped_and_search_never_returns_the_key",
        "tests/test_scan.py::test_secret_content_names_the_kind_and_line_but_not_the_value",
        "tests/test_reliability.py::test_api_keys_never_reach_the_mirror_or_the_index",
    ],
    "9 files vanishing or unreadable mid-plan, 1,000 nested directories": [
        "tests/test_scan.py::test_a_file_gone_or_unreadable_mid_plan_is_a_reason_not_a_crash",
        "tests/test_scan.py::test_plan_and_ingest_skip_the_same_files_for_the_same_reasons",
        "tests/test_scan.py::test_directories_nested_1000_deep",
        "tests/test_scan.py::test_walk_dirs_is_os_walk_without_recursion",
        "tests/test_scan.py::test_the_polling_watcher_follows_a_file_1000_directories_deep",
    ],
    "10 killed runs marked interrupted": ["tests/test_ingest.py::test_a_killed_run_is_marked_interrupted_by_the_next"],
    "11 odd line breaks and late NUL bytes": [
        "tests/test_chunking.py::test_only_newlines_break_lines",
        "tests/test_chunking.py::test_every_odd_break_stays_inside_its_line",
        "tests/test_chunking.py::test_a_three_line_file_with_odd_breaks_is_indexed_as_lines_1_to_3",
        "tests/test_scan.py::test_a_nul_after_the_first_8_kb_is_binary",
        "tests/test_scan.py::test_gitignore_lines_break_only_at_newlines",
    ],
    "adversarial files (symlinks, loops, sizes, encodings)": [
        "tests/test_reliability.py::test_adversarial_files_are_skipped_with_reasons",
    ],
}


def run_pytest(args: list[str], env: dict, junit: Path) -> int:
    # Full size outlasts the suite's 300 s per-test timeout on a busy machine.
    return subprocess.run([sys.executable, "-m", "pytest", *args, "-q", "-p", "no:cacheprovider", "--timeout=3600",
                           f"--junitxml={junit}"], cwd=ROOT, env=env).returncode


def outcomes(junit: Path) -> dict[str, str]:
    """'file::name[param]' -> passed | failed | skipped, from pytest's JUnit XML."""
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        module = case.get("classname", "").replace(".", "/")
        node = f"{module}.py::{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            out[node] = "failed"
        elif case.find("skipped") is not None:
            out[node] = "skipped"
        else:
            out[node] = "passed"
    return out


def hostile_figures(results: dict[str, str]) -> dict:
    groups = {}
    for group, selectors in HOSTILE.items():
        counted = {"cases": 0, "passed": 0, "failed": 0, "skipped": 0}
        for node, outcome in results.items():
            if any(node == s or node.startswith(s + "[") or node.startswith(s + "::") for s in selectors):
                counted["cases"] += 1
                counted[outcome] += 1
        groups[group] = counted
    return groups


def secret_scan() -> dict:
    """False positives on the FastAPI corpus, and the scan's cost against a reference measured
    side by side: the nine format patterns alone (what main had before #15's additions)."""
    from core.scan import decode_text
    from core.secret_scan import SECRET_PATTERNS, secret_in_text

    corpus = SHARED / "data" / "corpora" / "fastapi"
    if not corpus.is_dir():
        return {"corpus": str(corpus), "available": False}
    texts = {}
    for path in sorted(p for p in corpus.rglob("*") if p.is_file()):
        text, _ = decode_text(path.read_bytes())
        if text is not None:
            texts[path.relative_to(corpus).as_posix()] = text
    flagged = {name: found for name, text in texts.items() if (found := secret_in_text(text))}
    before = [p for kind, p in SECRET_PATTERNS
              if kind not in ("PuTTY private key", "AWS secret access key", "Slack webhook URL")]
    rounds = {"now": [], "format_patterns_only": []}
    for _ in range(3):  # interleaved, so both see the same load
        started = time.perf_counter()
        for text in texts.values():
            secret_in_text(text)
        rounds["now"].append(time.perf_counter() - started)
        started = time.perf_counter()
        for text in texts.values():
            for pattern in before:
                pattern.search(text)
        rounds["format_patterns_only"].append(time.perf_counter() - started)
    worst = {}  # adversarial megabytes: linear, bounded work per position
    for name, unit in (("a_a_a_", "a_"), ("secret=secret=", "secret="), ("my_secret_name...", "my_secret_name")):
        text = (unit * (1_000_000 // len(unit) + 1))[:1_000_000]
        started = time.perf_counter()
        secret_in_text(text)
        worst[name] = round(time.perf_counter() - started, 3)
    now, ref = min(rounds["now"]), min(rounds["format_patterns_only"])
    return {
        "corpus": "fastapi docs + docs_src", "text_files": len(texts),
        "megabytes": round(sum(len(t) for t in texts.values()) / 1e6, 2),
        "flagged": len(flagged), "files": flagged,
        "scan_seconds_best_of_3": round(now, 3), "reference_seconds_best_of_3": round(ref, 3),
        "cost_vs_reference": round(now / ref, 2) if ref else None,
        "adversarial_1mb_seconds": worst,
    }


def corruption(workdir: Path) -> dict | str:
    """bench/corruption.py's figures when that module is there (another branch writes it)."""
    try:
        from bench.corruption import run
    except ModuleNotFoundError as exc:
        if exc.name not in ("bench.corruption", "bench"):
            raise
        return "corruption: not available"
    return run(workdir)


def main() -> None:
    quick = "--quick" in sys.argv
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="lf-bench-reliability-") as tmp:
        tmp = Path(tmp)
        figures_out = tmp / "figures.json"
        env = {**os.environ, "LIGHTFAST_RELIABILITY_OUT": str(figures_out),
               "LIGHTFAST_KILL_RUNS": "5" if quick else "50",
               "LIGHTFAST_CONCURRENCY_SECONDS": "10" if quick else "120"}
        # The whole of test_reliability.py runs, so its tests are not named one by one (pytest
        # would then run only those).
        selectors = sorted({s for group in HOSTILE.values() for s in group
                            if not s.startswith("tests/test_reliability.py::")} | {"tests/test_reliability.py"})
        exit_code = run_pytest(selectors, env, tmp / "junit.xml")
        results = outcomes(tmp / "junit.xml")
        from_tests = json.loads(figures_out.read_text()) if figures_out.exists() else {}
        corrupt = corruption(tmp / "corruption")
    write_results("reliability", {
        "size": "quick" if quick else "full",
        "pytest_exit": exit_code,
        "seconds": round(time.time() - started, 1),
        "tests": {"cases": len(results), **{k: sum(v == k for v in results.values())
                                             for k in ("passed", "failed", "skipped")}},
        "hostile_inputs": hostile_figures(results),
        **from_tests,
        "secret_scan": secret_scan(),
        "corruption": corrupt,
    })
    sys.exit(exit_code)


if __name__ == "__main__":
    main()
