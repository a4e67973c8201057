"""Rows that fit the terminal: a table when every cell fits whole, else one record per block.

No identifier (namespace name, path, store) is ever cut with an ellipsis: a table is only
drawn when it fits at its natural width; otherwise each row becomes a block whose first
field heads it and whose other fields follow as 'name value' pairs, wrapped between pairs.
"""

from __future__ import annotations

import textwrap
from typing import Sequence

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

SEP = " · "


def print_rows(
    console: Console,
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    title: str = "",
    right: Sequence[str] = (),
) -> None:
    """Print rows under columns; right names the columns to right-align in a table."""
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    if title:
        console.print(f"[bold]{escape(title)}[/]", soft_wrap=False)
    if not cells:
        console.print("  (none)")
        return
    table = Table(box=None, padding=(0, 1), show_edge=False, pad_edge=False)
    for col in columns:
        table.add_column(escape(col), justify="right" if col in right else "left", no_wrap=True,
                         overflow="fold", header_style="bold")  # only drawn when nothing needs folding
    for row in cells:
        table.add_row(*(escape(c) for c in row))
    if fits(console, table):
        console.print(table, crop=False)
        return
    print_blocks(console, columns, cells)


def fits(console: Console, renderable) -> bool:
    options = console.options.update(max_width=10**6)
    return Measurement.get(console, options, renderable).maximum <= console.width


def print_blocks(console: Console, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """One block per row: the first field alone on a line, the rest as wrapped 'name value' pairs."""
    width = max(console.width, 20)
    for row in rows:
        console.print(f"[bold]{escape(row[0])}[/]", crop=False)
        pairs = [f"{name} {value}" for name, value in zip(columns[1:], row[1:]) if value != ""]
        line = ""
        for pair in pairs:
            candidate = f"{line}{SEP}{pair}" if line else pair
            if line and len(candidate) + 2 > width:
                console.print("  " + escape(line), crop=False)
                line = pair
            else:
                line = candidate
        if line:
            console.print("  " + escape(line), crop=False)


def say(console: Console, text: str, style: str = "", indent: str = "") -> None:
    """Words wrapped to the terminal, continuation lines indented under the first; a path
    longer than a line stays whole on its own line."""
    lines = textwrap.wrap(text, width=max(console.width, 40), initial_indent=indent, subsequent_indent=indent + "  ",
                          break_long_words=False, break_on_hyphens=False)
    for line in lines:
        console.print(f"[{style}]{escape(line)}[/]" if style else escape(line), crop=False)
