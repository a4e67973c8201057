"""Save -> searchable latency of the watcher, with the real local model.

    python bench/watch_latency.py [--edits N] [--debounce-ms MS] [--poll]

A temp repo holds the fastapi tutorial docs (`environment: local`: the real
all-MiniLM-L6-v2 model and the local index); it is ingested by the watcher's
start-up catch-up. Then N times a file is saved with a new unique sentence and
the clock runs until a search for that sentence returns the new text. The
bench searches when the watcher reports a batch (and again at each later
batch or after SEARCH_RETRY_S), not in a tight loop: a loop of searches would
compete with the watcher's ingest for the 2 cores and measure that contention.
The watcher uses `lightfast watch`'s default debounce unless told otherwise.
Prints p50 and p95 and writes bench/results/watch.json (goal: p95 under 1 s).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from pathlib import Path

from _common import SHARED, local_config, summary, write_results

SEARCH_RETRY_S = 0.25


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=50)
    parser.add_argument("--debounce-ms", type=int, default=None, help="default: the Watcher's (the CLI's)")
    parser.add_argument("--poll", action="store_true", help="use the watcher's poller instead of inotify")
    args = parser.parse_args()

    from core.config import load_config
    from core.service import Lightfast
    from core.watch import Watcher

    tmp = Path(tempfile.mkdtemp(prefix="lf-bench-watch-"))
    home, repo = tmp / "home", tmp / "repo"
    shutil.copytree(SHARED / "data" / "corpora" / "fastapi" / "docs" / "en" / "docs" / "tutorial", repo / "docs")
    config = local_config(repo, '  - slug: docs\n    include: ["**/*.md"]\n')
    service = Lightfast(load_config(config), home)

    ingest_seconds: list[float] = []
    batch_done = threading.Event()

    def on_batch(state, report) -> None:
        if report is not None:
            ingest_seconds.append(report.seconds)
        batch_done.set()

    kwargs = {"debounce_ms": args.debounce_ms} if args.debounce_ms else {}
    watcher = Watcher(service, on_batch=on_batch, force_polling=True if args.poll else False, **kwargs)
    t0 = time.perf_counter()
    watcher.start()
    while watcher.state.batches < 1:
        if watcher.state.status == "error":
            raise SystemExit(watcher.state.last_error)
        time.sleep(0.05)
    catch_up = time.perf_counter() - t0
    documents = service.mirror.counts(service.namespace_records("store")[0].id).documents

    target = repo / "docs" / "bench-note.md"
    animals = ["aardvark", "bison", "caracal", "dingo", "echidna", "fossa", "gharial", "hoatzin", "ibex", "jerboa"]
    latencies = []
    for i in range(args.edits):
        phrase = f"The {animals[i % 10]} number {i} sleeps under the {animals[(i * 3 + 1) % 10]} bridge"
        batch_done.clear()
        start = time.perf_counter()
        target.write_text(f"# Note {i}\n\n{phrase}.\n")
        while True:
            batch_done.wait(SEARCH_RETRY_S)
            batch_done.clear()
            hits = service.search(phrase, top_k=1).hits
            if hits and hits[0].path == "docs/bench-note.md" and f"number {i} " in hits[0].text:
                break
        latencies.append(time.perf_counter() - start)
    watcher.stop()
    per_edit_ingest = ingest_seconds[1:]  # the first is the catch-up
    write_results("watch", {
        "edits": args.edits,
        "corpus": f"fastapi docs/en/docs/tutorial ({documents} documents)",
        "model": service.profile.embedding_model,
        "mode": "poll" if args.poll else "inotify",
        "debounce_ms": watcher.debounce_ms,
        "catch_up_s": round(catch_up, 3),
        "save_to_searchable": (figures := summary(latencies)),
        "ingest_per_batch_ms": summary(per_edit_ingest) if per_edit_ingest else None,
        "goal": "p95 under 1000 ms",
        "met": figures["p95_ms"] < 1000,
    })
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
