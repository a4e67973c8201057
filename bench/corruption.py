"""Corruption cases through the real CLI: a silent wrong answer, or a clear error and a way back?

    python bench/corruption.py

One repo of ten bird notes is ingested once with the real local model; each case copies that
data dir, damages it the way a disk error, a stray `rm` or a restore gone wrong would, and
runs the real `lightfast` in a subprocess:

1. `lightfast search "about the falcon" --json`: correct (falcon.md first), a clear error
   (non-zero exit or the namespace listed as failed, no traceback), or a silent wrong answer
   (exit 0, no failure reported, falcon.md not first);
2. `lightfast status` and `lightfast doctor`: exit codes, tracebacks, whether each flags it;
3. the documented recovery: the commands the error names (in backticks), else
   `lightfast doctor --repair`; if those do not bring falcon.md back, `lightfast doctor
   --repair` as well. A case is recovered when search finds falcon.md first again;
4. the same damage on a fresh copy, recovered by `lightfast doctor --repair` alone.

Every figure is counted from the cases' outcomes. Output: bench/results/corruption.json.
`run(workdir)` is importable (bench/reliability.py uses it).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, write_results  # noqa: E402

BIRDS = ["falcon", "heron", "owl", "pelican", "sparrow", "crow", "eagle", "wren", "robin", "finch"]
QUERY, EXPECTED = "about the falcon", "falcon.md"
STORE_NS = "org_bench:ws_main:store_docs"
CONFIG = """organization: bench
workspace: main
environment: local
stores:
  - slug: docs
    include: ["**/*.md"]
"""


# -- where things are in a data dir --------------------------------------------------------------

def _index(home: Path) -> Path:
    return next(p for p in (home / "indexes").iterdir() if (p / "ns").is_dir())


def _incarnation(home: Path) -> Path:
    slot = _index(home) / "ns" / STORE_NS.replace(":", "%3a")
    return next(slot.glob("d-*"))


def _row_of(home: Path, path: str) -> tuple[Path, int, int]:
    """(slab file, row, dimension) of a document's first vector."""
    folder = _incarnation(home)
    dim = json.loads((_index(home) / "index.json").read_text())["dimension"]
    conn = sqlite3.connect(folder / "meta.sqlite")
    try:
        for slab, row, meta in conn.execute("SELECT slab, row, metadata FROM vectors ORDER BY row"):
            if json.loads(meta)["path"] == path:
                return folder / f"slab-{slab:06d}.f32", row, dim
    finally:
        conn.close()
    raise LookupError(path)


def _garbage(path: Path, offset: int = 100, length: int = 512) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write((b"garbage!" * (length // 8 + 1))[:length])


# -- the damage, one function per case -------------------------------------------------------------

def _nan_row(home: Path) -> None:
    slab, row, dim = _row_of(home, EXPECTED)
    with open(slab, "r+b") as f:
        f.seek(row * dim * 4)
        f.write(b"\xff" * dim * 4)


def _finite_flip(home: Path) -> None:
    """falcon's row overwritten with the crow's: finite, plausible, wrong."""
    slab, row, dim = _row_of(home, EXPECTED)
    other_slab, other_row, _ = _row_of(home, "crow.md")
    data = other_slab.read_bytes()[other_row * dim * 4:(other_row + 1) * dim * 4]
    with open(slab, "r+b") as f:
        f.seek(row * dim * 4)
        f.write(data)


def _truncate_slab(home: Path) -> None:
    slab, _, dim = _row_of(home, EXPECTED)
    with open(slab, "r+b") as f:
        f.truncate(3 * dim * 4 + 100)


def _mirror_pages(home: Path) -> None:
    mirror = home / "mirror.sqlite"
    conn = sqlite3.connect(mirror)
    page_size, pages = (conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_size", "page_count"))
    conn.close()
    _garbage(mirror, page_size, (pages - 1) * page_size)  # every page but the schema's


CASES: dict[str, Callable[[Path], None]] = {
    "delete indexes/": lambda home: shutil.rmtree(home / "indexes"),
    "delete the namespace's folder": lambda home: shutil.rmtree(_incarnation(home).parent),
    "delete a meta.sqlite": lambda home: (_incarnation(home) / "meta.sqlite").unlink(),
    "garbage in meta.sqlite": lambda home: _garbage(_incarnation(home) / "meta.sqlite"),
    "delete a slab": lambda home: _row_of(home, EXPECTED)[0].unlink(),
    "truncate a slab": _truncate_slab,
    "0xff (NaN) over a slab row": _nan_row,
    "finite flip of a slab row": _finite_flip,
    "garbage in index.json": lambda home: (_index(home) / "index.json").write_text("{garbage"),
    "delete mirror.sqlite": lambda home: (home / "mirror.sqlite").unlink(),
    "garbage in mirror.sqlite header": lambda home: _garbage(home / "mirror.sqlite"),
    "garbage in mirror.sqlite pages": _mirror_pages,
}


# -- running the CLI -------------------------------------------------------------------------------

def _lightfast(args: list[str], home: Path, repo: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LIGHTFAST_CONFIG"}
    env.update(LIGHTFAST_HOME=str(home), COLUMNS="80", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "lightfast_cli", *args], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=600)


def _search(home: Path, repo: Path) -> dict:
    """One search, classified: correct, clear error, silent wrong answer (or traceback)."""
    proc = _lightfast(["search", QUERY, "--json", "-k", "3"], home, repo)
    said = proc.stderr
    try:  # search prints its JSON also when it exits 5 (every namespace failed)
        data = json.loads(proc.stdout) if proc.stdout.strip() else {}
    except ValueError:
        data = {}
    failed = data.get("failed") or {}
    said += " ".join(failed.values())
    hits = [h["path"] for h in data.get("hits", [])]
    if "Traceback" in proc.stderr:
        outcome = "traceback"
    elif proc.returncode != 0 or failed:
        outcome = "clear error"
    elif hits and hits[0] == EXPECTED:
        outcome = "correct"
    else:
        outcome = "silent wrong answer"
    return {"outcome": outcome, "exit": proc.returncode, "top_hits": hits, "said": said.strip()[:600]}


def _named_commands(text: str) -> list[list[str]]:
    """The recovery commands an error names in backticks (lightfast ... and mv ...), in order."""
    commands = []
    for cmd in re.findall(r"`((?:lightfast|mv) [^`]+)`", text):
        argv = shlex.split(cmd)
        if argv not in commands:
            commands.append(argv)
    return commands


def _case(name: str, damage: Callable[[Path], None], base: Path, repo: Path, workdir: Path) -> dict:
    home = workdir / re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    shutil.copytree(base, home, copy_function=_copy)
    damage(home)
    first = _search(home, repo)
    status = _lightfast(["status"], home, repo)
    doctor = _lightfast(["doctor"], home, repo)
    tracebacks = sum("Traceback" in p.stderr for p in (status, doctor)) + (first["outcome"] == "traceback")
    ran: list[str] = []
    named = _named_commands(first["said"]) if first["outcome"] != "correct" else []
    for argv in named or [["lightfast", "doctor", "--repair"]]:
        ran.append(shlex.join(argv))
        if argv[0] == "mv":
            subprocess.run(argv, cwd=repo, check=False)
        else:
            _lightfast(argv[1:] + (["--yes"] if argv[1:3] == ["namespaces", "delete"] and "--yes" not in argv
                                   else []), home, repo)
    after = _search(home, repo)
    if after["outcome"] != "correct" and named:
        ran.append("lightfast doctor --repair")
        _lightfast(["doctor", "--repair"], home, repo)
        after = _search(home, repo)
    # The same damage on a fresh copy, recovered by `lightfast doctor --repair` alone.
    alone = home.with_name(home.name + "-doctor")
    shutil.copytree(base, alone, copy_function=_copy)
    damage(alone)
    repair = _lightfast(["doctor", "--repair"], alone, repo)
    by_doctor = _search(alone, repo)["outcome"] == "correct"
    tracebacks += "Traceback" in repair.stderr
    return {
        "case": name, "search": first, "recovered_by_doctor_repair": by_doctor, "status_exit": status.returncode, "doctor_exit": doctor.returncode,
        "doctor_detected": doctor.returncode != 0, "tracebacks": tracebacks,
        "status_flags_it": status.returncode != 0 or "problem" in status.stdout,
        "silent_wrong_answer": first["outcome"] == "silent wrong answer",
        "recovery": ran, "recovered": after["outcome"] == "correct", "after": after,
    }


def _copy(src: str, dst: str) -> None:
    """Model files are only read: link them; everything else is copied, since cases damage it."""
    if "/models/" in src:
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    shutil.copy2(src, dst)


def run(workdir: Path, cases: list[str] | None = None) -> dict:
    """Run the corruption cases (default: all of CASES) in workdir; the counts and one entry per case."""
    workdir = Path(workdir)
    repo, base = workdir / "repo", workdir / "base-home"
    repo.mkdir(parents=True)
    for bird in BIRDS:
        (repo / f"{bird}.md").write_text(f"# The {bird}\n\nNotes about the {bird}, a bird seen near the lake.\n")
    (repo / "lightfast.yml").write_text(CONFIG)
    built = _lightfast(["ingest", "-q"], base, repo)
    if built.returncode != 0:
        raise RuntimeError(f"the clean ingest failed: {built.stderr}")
    clean = _search(base, repo)
    if clean["outcome"] != "correct":
        raise RuntimeError(f"the clean data dir does not find {EXPECTED}: {clean}")
    details = [_case(name, CASES[name], base, repo, workdir) for name in (cases or list(CASES))]
    return {
        "cases": len(details),
        "silent_wrong_answers": sum(d["silent_wrong_answer"] for d in details),
        "clear_errors": sum(d["search"]["outcome"] == "clear error" for d in details),
        "correct_despite_damage": sum(d["search"]["outcome"] == "correct" for d in details),
        "tracebacks": sum(d["tracebacks"] for d in details),
        "doctor_detected": sum(d["doctor_detected"] for d in details),
        "status_flags_it": sum(d["status_flags_it"] for d in details),
        "recovered": sum(d["recovered"] for d in details),
        "recovered_by_doctor_repair": sum(d["recovered_by_doctor_repair"] for d in details),
        "details": details,
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="lightfast-corruption-") as tmp:
        figures = run(Path(tmp))
    write_results("corruption", figures)


if __name__ == "__main__":
    main()
