"""Where Lightfast keeps its state: one directory, relocated by LIGHTFAST_HOME."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def data_dir() -> Path:
    """The data dir: $LIGHTFAST_HOME, else the platform's user data dir."""
    env = os.environ.get("LIGHTFAST_HOME")
    path = Path(env).expanduser() if env else Path(platformdirs.user_data_dir("lightfast"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def mirror_path(home: Path | None = None) -> Path:
    return (home or data_dir()) / "mirror.sqlite"


def local_index_root(home: Path | None = None) -> Path:
    return (home or data_dir()) / "indexes"


def locks_dir(home: Path | None = None) -> Path:
    path = (home or data_dir()) / "locks"
    path.mkdir(parents=True, exist_ok=True)
    return path
