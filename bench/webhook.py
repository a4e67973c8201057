"""Push to searchable through the webhook, against the same change ingested with --since directly.

    python bench/webhook.py [--pushes 10] [--files 200]

A bare "remote", a developer's copy that pushes to it, and two clones of it with their own
data dirs, both on the local profile and the real local model. Each round the developer
edits one file and pushes; then, side by side in the same round:
- reference: the first clone pulls (`git pull --ff-only`) and runs `ingest_since(previous)`;
- webhook: a signed push event is POSTed to the webhook serving the second clone, and the
  time runs until its worker reports the delivery done (fetch, fast-forward, ingest).
Figures: per-round seconds of each, their medians, and the ratio webhook / reference (the
webhook's own overhead: HTTP, signature, fetch, bookkeeping). Output: bench/results/webhook.json.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import queue
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import local_config, write_results

SECRET = b"bench-secret-0123456789"
ENV = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.com",
       "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.com"}


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, env=ENV,
                          check=True).stdout.decode().strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pushes", type=int, default=10)
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args()

    from core.config import load_config
    from core.service import Lightfast

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        remote, dev = tmp / "remote.git", tmp / "dev"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
        subprocess.run(["git", "clone", "-q", str(remote), str(dev)], check=True, capture_output=True)
        git(dev, "checkout", "-q", "-b", "main")
        for i in range(args.files):
            path = dev / "docs" / f"page{i:04}.md"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"# Page {i}\n\nPage {i} is about harbour {i % 17} and tide {i % 13}.\n")
        git(dev, "add", "-A")
        git(dev, "commit", "-q", "-m", "base")
        git(dev, "push", "-q", "origin", "main")
        services = {}
        for name in ("reference", "webhook"):
            clone = tmp / name
            subprocess.run(["git", "clone", "-q", str(remote), str(clone)], check=True, capture_output=True)
            local_config(clone, '  - slug: docs\n    include: ["**/*.md"]\n')
            services[name] = Lightfast(load_config(clone / "lightfast.yml"), tmp / f"home-{name}")
            services[name].ingest()
        reference, hooked = services["reference"], services["webhook"]
        hooked.connect_repository("bench/docs")
        done: queue.Queue = queue.Queue()
        server = hooked.webhook_server(SECRET, port=0, on_done=done.put)
        rounds = []
        with server:
            for n in range(args.pushes):
                before = git(dev, "rev-parse", "HEAD")
                (dev / "docs" / f"page{n % args.files:04}.md").write_text(
                    f"# Page {n}\n\nround {n}: the pelican colony moved to lagoon {n}.\n")
                git(dev, "commit", "-q", "-am", f"round {n}")
                git(dev, "push", "-q", "origin", "main")
                after = git(dev, "rev-parse", "HEAD")

                started = time.perf_counter()
                git(reference.root, "pull", "-q", "--ff-only")
                reference.ingest_since(before)
                ref_s = time.perf_counter() - started

                body = json.dumps({"ref": "refs/heads/main", "before": before, "after": after,
                                   "repository": {"full_name": "bench/docs"}}).encode()
                request = urllib.request.Request(server.url, data=body, method="POST", headers={
                    "X-GitHub-Event": "push", "X-GitHub-Delivery": f"bench-{n}",
                    "X-Hub-Signature-256": "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()})
                started = time.perf_counter()
                with urllib.request.urlopen(request, timeout=120) as response:
                    assert response.status == 202
                outcome = done.get(timeout=600)
                hook_s = time.perf_counter() - started
                assert outcome.status == "ok", outcome.detail
                rounds.append({"reference_s": round(ref_s, 4), "webhook_s": round(hook_s, 4)})
        # Both data dirs hold the last round's content (checked by hash, not by a ranking).
        last = f"docs/page{(args.pushes - 1) % args.files:04}.md"
        digest = hashlib.sha256((dev / last).read_bytes()).hexdigest()
        for service in (reference, hooked):
            record = service.namespace_records("store", ["docs"])[0]
            assert service.mirror.documents(record.id)[last]["content_hash"] == digest
    ref_median = statistics.median(r["reference_s"] for r in rounds)
    hook_median = statistics.median(r["webhook_s"] for r in rounds)
    write_results("webhook", {
        "what": "one-file push to searchable: webhook (HTTP, signature, fetch, fast-forward, ingest) against "
                "git pull + ingest_since of the same push, side by side in each round; local model",
        "files": args.files, "pushes": args.pushes, "rounds": rounds,
        "reference_median_s": round(ref_median, 4), "webhook_median_s": round(hook_median, 4),
        "ratio_webhook_to_reference": round(hook_median / ref_median, 3),
    })


if __name__ == "__main__":
    main()
