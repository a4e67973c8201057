"""Reliability figures: runs tests/test_reliability.py at full size and writes its totals.

    python bench/reliability.py

50 SIGKILLed ingests of a 300-file repo, two minutes of watcher + MCP server +
CLI on one data dir while files change, 10% faults during a 2,000-chunk ingest
against the Pinecone and Cohere wire-format servers, hostile input, secrets,
disk full and a read-only data dir. Output: bench/results/reliability.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from _common import RESULTS, ROOT


def main() -> None:
    out = RESULTS / "reliability.json"
    env = {**os.environ, "LIGHTFAST_RELIABILITY_OUT": str(out), "LIGHTFAST_KILL_RUNS": "50",
           "LIGHTFAST_CONCURRENCY_SECONDS": "120"}
    started = time.time()
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests/test_reliability.py", "-q", "-p", "no:cacheprovider"],
                          cwd=ROOT, env=env)
    figures = json.loads(out.read_text()) if out.exists() else {}
    figures = {"command": "python bench/reliability.py", "pytest_exit": proc.returncode,
               "seconds": round(time.time() - started, 1), **figures}
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
