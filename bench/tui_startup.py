"""TUI start-up: time to the first painted frame, headless, with the real local profile.

    python bench/tui_startup.py [--runs N] [--cold N]

Also, with 1,000 more namespace records in the mirror (3 organizations, 2
environments): first paint and tree filled, and the latency of each filter
keystroke (key pressed -> tree rebuilt and the frame refreshed), p95 goal
under 100 ms.

warm: in this process (modules already imported), from constructing the app
to Textual's `Ready` event (the DOM mounted and the first frame displayed),
then to the namespace tree filled from the mirror and index.
cold: a fresh `python` per run, from before the interpreter starts to `Ready`
(imports included), which is what a user waits for after `lightfast tui`.
Every run also checks that the embedding model was not loaded for start-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, local_config, summary, write_results

SIZE = (120, 40)


async def first_paint(config: Path) -> dict:
    """One headless run; seconds from constructing the app to Ready and to namespaces shown."""
    from textual import events

    from core.config import load_config
    from core.service import Lightfast
    from lightfast_tui.app import LightfastApp

    marks: dict[str, float] = {}

    class Timed(LightfastApp):
        def on_ready(self, _event: events.Ready) -> None:
            marks.setdefault("ready", time.perf_counter())
            marks.setdefault("ready_wall", time.time())

    t0 = time.perf_counter()
    service = Lightfast(load_config(config))
    app = Timed(service)
    async with app.run_test(size=SIZE) as pilot:
        while "ready" not in marks:
            await pilot.pause()
        loaded = service._embedder is not None and getattr(service._embedder, "loaded", False)
        await app.workers.wait_for_complete()
        await pilot.pause()
        marks["namespaces"] = time.perf_counter()
        assert app.query_one("#browser").rows, "the tree should show the ingested store"
    return {"ready": marks["ready"] - t0, "namespaces": marks["namespaces"] - t0, "model_loaded": loaded,
            "ready_wall": marks["ready_wall"]}


def add_records(service, count: int) -> None:
    """count namespace records over 3 organizations, 17 workspaces and 2 environments."""
    from core.namespaces import namespace_id
    from core.naming import namespace_name

    for i in range(count):
        env, org = ("local", "staging")[i % 2], ("acme", "beta", "gamma")[i % 3]
        ws, store = f"ws{i % 17}", f"store{i:04}"
        service.mirror.insert_namespace({
            "id": namespace_id(env, org, ws, store), "organization_id": org, "workspace_id": ws,
            "store_slug": store, "namespace_name": namespace_name(org, ws, store), "environment": env,
            "index_name": service.profile.name, "chunk_max_tokens": 256, "chunk_overlap": 32,
            "embedding_provider": "local", "embedding_model": service.profile.embedding_model,
            "embedding_dim": service.profile.dimension,
        })


async def filter_keystrokes(config: Path, text: str) -> tuple[list[float], list[float]]:
    """Seconds per filter keystroke, from the key press to the rebuilt tree's next frame:
    wall (includes Pilot's wait for idle, and whatever else the machine runs) and CPU of
    this process (the keystroke's own cost, steadier on a busy machine)."""
    from core.config import load_config
    from core.service import Lightfast
    from lightfast_tui.app import LightfastApp

    app = LightfastApp(Lightfast(load_config(config)))
    wall, cpu = [], []
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("f")
        for key in text:
            t0, c0 = time.perf_counter(), time.process_time()
            await pilot.press(key)
            await pilot.pause()
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        assert len(app.query_one("#browser").rows) > 1000
    return wall, cpu


def child(config: str, started: float) -> None:
    """--child: the cold run, timed from the parent's clock reading before it spawned us."""
    result = asyncio.run(first_paint(Path(config)))
    result["cold_ready"] = result["ready_wall"] - started
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="warm runs in this process")
    parser.add_argument("--cold", type=int, default=5, help="cold runs, one fresh interpreter each")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], float(args.child[1]))
        return

    tmp = Path(tempfile.mkdtemp(prefix="lf-bench-tui-"))
    os.environ["LIGHTFAST_HOME"] = str(tmp / "home")
    repo = tmp / "repo"
    (repo / "docs").mkdir(parents=True)
    for i in range(20):
        (repo / "docs" / f"note{i:02}.md").write_text(f"# Note {i}\n\nalpha beta gamma {i}\n")
    config = local_config(repo, '  - slug: docs\n    include: ["**/*.md"]\n')
    from core.config import load_config
    from core.service import Lightfast

    Lightfast(load_config(config)).ingest()  # something to show; the model loads here, not in the runs

    warm = [asyncio.run(first_paint(config)) for _ in range(args.runs)]
    cold = []
    for _ in range(args.cold):
        started = time.time()
        out = subprocess.run([sys.executable, __file__, "--child", str(config), str(started)],
                             capture_output=True, text=True, check=True, cwd=ROOT, env=os.environ)
        cold.append(json.loads(out.stdout.strip().splitlines()[-1]))
    write_results("tui", {
        "terminal": f"{SIZE[0]}x{SIZE[1]} headless",
        "repo": "20 markdown files in one store, local profile (all-MiniLM-L6-v2, not loaded at start-up)",
        "warm_runs": args.runs,
        "first_paint": summary([r["ready"] for r in warm]),
        "namespaces_shown": summary([r["namespaces"] for r in warm]),
        "cold_runs": args.cold,
        "cold_first_paint_incl_imports": summary([r["cold_ready"] for r in cold]),
        "model_loaded_at_start_up": any(r["model_loaded"] for r in warm + cold),
        **many_records(config, args.runs),
    })
    shutil.rmtree(tmp, ignore_errors=True)


def many_records(config: Path, runs: int) -> dict:
    from core.config import load_config
    from core.service import Lightfast

    add_records(Lightfast(load_config(config)), 1000)
    warm = [asyncio.run(first_paint(config)) for _ in range(runs)]
    keys, keys_cpu = [], []
    for query in ("store04", "acme", "ws1", "beta:ws3", "gamma"):
        wall, cpu = asyncio.run(filter_keystrokes(config, query))
        keys += wall
        keys_cpu += cpu
    return {
        "load_average_1m_after": round(os.getloadavg()[0], 2),
        "with_1020_records": {
            "first_paint": summary([r["ready"] for r in warm]),
            "namespaces_shown": summary([r["namespaces"] for r in warm]),
            "filter_keystroke": summary(keys),
            "filter_keystroke_cpu": summary(keys_cpu),
            "filter_keystroke_goal_p95_ms": 100,
        },
    }


if __name__ == "__main__":
    main()
