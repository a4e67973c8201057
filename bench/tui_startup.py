"""TUI start-up: time from constructing the app to its first screen painted (headless).

    python bench/tui_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path

from _common import local_config, summary, write_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lf-bench-tui-"))
    os.environ["LIGHTFAST_HOME"] = str(tmp / "home")
    repo = tmp / "repo"
    repo.mkdir()
    (repo / "a.md").write_text("# A\n\nalpha\n")
    config = local_config(repo, '  - slug: docs\n    include: ["**/*.md"]\n')
    from core.config import load_config
    from core.service import Lightfast

    Lightfast(load_config(config)).ingest()
    from lightfast_tui.app import LightfastApp

    first_paint, loaded = [], []

    async def once():
        t0 = time.perf_counter()
        app = LightfastApp(Lightfast(load_config(config)))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()  # first screen mounted and painted
            first_paint.append(time.perf_counter() - t0)
            await app.workers.wait_for_complete()
            await pilot.pause()
            loaded.append(time.perf_counter() - t0)

    for _ in range(args.runs):
        asyncio.run(once())
    write_results("tui", {"runs": args.runs, "first_paint": summary(first_paint),
                          "namespaces_loaded": summary(loaded)})
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
