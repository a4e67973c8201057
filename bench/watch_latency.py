"""Save -> searchable latency of the watcher, with the real local model.

    python bench/watch_latency.py [--edits N]

A temp repo of the fastapi tutorial docs is ingested, a watcher starts, and N
times a file is saved with a new unique sentence; the clock stops when a
search for that sentence returns the file. Prints p50 and p95.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from _common import SHARED, local_config, summary, write_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=50)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lf-bench-watch-"))
    os.environ["LIGHTFAST_HOME"] = str(tmp / "home")
    repo = tmp / "repo"
    shutil.copytree(SHARED / "data" / "corpora" / "fastapi" / "docs" / "en" / "docs" / "tutorial", repo / "docs")
    config = local_config(repo, '  - slug: docs\n    include: ["**/*.md"]\n')
    from core.config import load_config
    from core.service import Lightfast
    from core.watch import Watcher

    service = Lightfast(load_config(config))
    watcher = Watcher(service, step_ms=50).start()
    while watcher.state.batches < 1:
        time.sleep(0.05)
    target = repo / "docs" / "bench-note.md"
    animals = ["aardvark", "bison", "caracal", "dingo", "echidna", "fossa", "gharial", "hoatzin", "ibex", "jerboa"]
    latencies = []
    for i in range(args.edits):
        phrase = f"The {animals[i % 10]} number {i} sleeps under the {animals[(i * 3 + 1) % 10]} bridge"
        t0 = time.perf_counter()
        target.write_text(f"# Note {i}\n\n{phrase}.\n")
        while True:
            hits = service.search(phrase, top_k=1).hits
            if hits and hits[0].path == "docs/bench-note.md" and f"number {i} " in hits[0].text:
                break
            time.sleep(0.01)
        latencies.append(time.perf_counter() - t0)
    watcher.stop()
    write_results("watch", {"edits": args.edits, "watcher_step_ms": 50,
                            "save_to_searchable": summary(latencies)})
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
