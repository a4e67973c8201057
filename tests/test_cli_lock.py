"""A second writer while another process holds the data dir's writer lock: it says whom it waits
for, or with --no-wait exits 7 at once. The holder is a real process; tests wait on the lines
processes print, never on a clock."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import write_files
from core.locks import LockHolder, file_lock, process_label, read_holder
from core.errors import LockedError
from lightfast_cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
HOLDER = textwrap.dedent("""
    import sys
    from core.locks import file_lock
    from core.paths import locks_dir
    with file_lock(locks_dir() / "ingest.lock", label="lightfast ingest"):
        print("holding", flush=True)
        sys.stdin.read()  # until the test closes our stdin
""")


@pytest.fixture
def holder(lightfast_home):
    """A process that holds the writer lock of LIGHTFAST_HOME until its stdin closes."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == "holding"
        yield proc
    finally:
        if proc.poll() is None:
            proc.stdin.close()
            proc.wait(timeout=60)


@pytest.fixture
def real_repo(repo, monkeypatch):
    write_files(repo, {"docs/birds.md": "# Birds\n\nThe pelican colony nests on the northern lagoon.\n"})
    monkeypatch.chdir(repo)
    assert CliRunner().invoke(cli, ["init"]).exit_code == 0
    return repo


def test_no_wait_exits_7_at_once_naming_the_holder(real_repo, holder):
    result = CliRunner().invoke(cli, ["ingest", "--no-wait"])
    assert result.exit_code == 7, result.output
    assert f"pid {holder.pid} (lightfast ingest, since " in result.stderr
    result = CliRunner().invoke(cli, ["namespaces", "delete", "docs", "--yes", "--no-wait"])
    assert result.exit_code in (1, 7)  # no namespace yet (1) is checked before the lock


def test_a_waiting_ingest_says_whom_it_waits_for_then_finishes(real_repo, holder, lightfast_home):
    ingest = subprocess.Popen([sys.executable, "-m", "lightfast_cli", "ingest"], cwd=real_repo,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        first = ingest.stderr.readline()  # blocks until the ingest prints: no clock involved
        assert first.startswith(f"waiting for pid {holder.pid} (lightfast ingest, since "), first
        assert first.rstrip().endswith("; Ctrl-C to stop")
        holder.stdin.close()  # the holder lets go; the ingest goes ahead
        out, rest = ingest.communicate(timeout=300)
        assert ingest.returncode == 0, rest
        assert "docs: done" in rest and "org_local:ws_repo:store_docs" in out
    finally:
        if ingest.poll() is None:
            ingest.kill()
            ingest.wait()


def test_lock_holder_is_recorded_and_described(tmp_path):
    path = tmp_path / "x.lock"
    with file_lock(path, label="lightfast watch"):
        fd = os.open(path, os.O_RDONLY)
        try:
            holder = read_holder(fd)
        finally:
            os.close(fd)
        assert holder.pid == str(os.getpid()) and holder.command == "lightfast watch" and holder.since
        assert holder.describe().startswith(f"pid {os.getpid()} (lightfast watch, since ")
    assert LockHolder().describe() == "pid ?"  # a lock file being written reads as unknown


def test_lock_wait_zero_fails_at_once(tmp_path, holder, lightfast_home):
    from core.paths import locks_dir

    calls: list[LockHolder] = []
    with pytest.raises(LockedError) as info:
        with file_lock(locks_dir() / "ingest.lock", wait=0, on_wait=calls.append):
            pass
    assert calls == [] and f"pid {holder.pid}" in str(info.value)
    assert info.value.holder.command == "lightfast ingest"


@pytest.mark.parametrize("argv, label", [
    (["/venv/bin/lightfast", "ingest", "--full"], "lightfast ingest"),
    (["/venv/bin/lightfast", "--config", "x.yml", "mcp"], "lightfast mcp"),
    (["/repo/lightfast_cli/__main__.py", "-c", "x.yml", "watch"], "lightfast watch"),
    (["/repo/mcp_server/__main__.py", "--config", "x"], "python -m mcp_server"),
    (["-c"], "python"),
    ([], "python"),
])
def test_process_label(argv, label):
    assert process_label(argv) == label
