"""Consoles built per use, so COLUMNS and the streams in force at the time count (click's test
runner swaps both). Results go to stdout, progress and errors to stderr."""

from __future__ import annotations

from rich.console import Console


def out() -> Console:
    return Console(highlight=False, soft_wrap=True)


def err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)
