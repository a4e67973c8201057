"""Migration copy throughput on the local backend (vectors/s).

    python bench/migrate.py [--stores N] [--vectors N]

Builds N legacy stores (one local index each, 384-d random vectors with chunk-
sized metadata), then times `Migration.run` (registry + copy) and `verify`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import ROOT, local_config, write_results

sys.path.insert(0, str(ROOT / "tests"))  # the legacy layout is test scaffolding (tests/legacy_layout.py)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--vectors", type=int, default=5000, help="vectors per store")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lf-bench-migrate-"))
    os.environ["LIGHTFAST_HOME"] = str(tmp / "home")
    repo = tmp / "repo"
    repo.mkdir()
    config = local_config(repo, '  - slug: docs\n    include: ["**/*.md"]\n')

    from core.config import load_config
    from core.migrate import Migration
    from legacy_layout import create_legacy_store
    from core.service import Lightfast
    from core.vectors.base import VectorRecord

    service = Lightfast(load_config(config))
    rng = np.random.default_rng(0)
    text = "lorem ipsum " * 80  # ~1 KB of chunk text, like real metadata
    for s in range(args.stores):
        m = rng.standard_normal((args.vectors, 384)).astype(np.float32)
        records = [VectorRecord(f"d{i // 8}:{i % 8}", m[i], {"path": f"f{i // 8}.md", "text": text})
                   for i in range(args.vectors)]
        create_legacy_store(service, "bench", f"store{s}", records)
    total = args.stores * args.vectors
    migration = Migration(service, batch_size=500)
    t0 = time.perf_counter()
    result = migration.run()
    run_s = time.perf_counter() - t0
    assert result["vectors_copied"] == total
    t0 = time.perf_counter()
    checks = migration.verify(sample=50)
    verify_s = time.perf_counter() - t0
    assert all(c.ok for c in checks)
    write_results("migrate", {
        "stores": args.stores, "vectors_per_store": args.vectors, "dimension": 384,
        "copy_s": round(run_s, 2), "vectors_per_s": round(total / run_s, 1),
        "verify_s": round(verify_s, 2),
    })
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
