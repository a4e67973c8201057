"""Reading a YAML file someone else may have written: bounded in size, depth, aliases and tags.

lightfast.yml is read by every command, also the MCP server's, so a hostile or
broken file must fail fast with a line number, never hang or reach a traceback:

- only a regular file is read (a FIFO would block the reader forever, a device
  never ends), and at most MAX_BYTES of it;
- nesting deeper than MAX_DEPTH is refused before PyYAML's recursive composer
  can overflow the stack;
- aliases (`*name`) may add at most MAX_ALIAS_NODES nodes in all, counted as
  the nodes they expand to, so a "billion laughs" file fails in the composer,
  linear in its size; an alias inside its own anchor is refused;
- explicit tags other than the core schema's (`!!python/...`, `!!binary`,
  `!custom`) and non-scalar keys (`? [a, b]`) are refused: a setting is a
  plain name with a plain value.

Everything here raises UnsafeYAML(line, message); core/config.py adds the file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import yaml

MAX_BYTES = 1_000_000
MAX_DEPTH = 64
MAX_ALIAS_NODES = 10_000

_CORE = "tag:yaml.org,2002:"
ALLOWED_TAGS = frozenset(_CORE + t for t in ("str", "int", "float", "bool", "null", "seq", "map"))


class UnsafeYAML(Exception):
    """The file breaks one of the limits above; line is 1-based."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line


class FileRefused(Exception):
    """The path cannot be read as a config file; the message says why. too_big: it is a file, too large."""

    def __init__(self, message: str, too_big: bool = False):
        super().__init__(message)
        self.too_big = too_big


def read_regular_file(path: Path, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of a regular file of at most max_bytes; FileRefused otherwise.

    Opened without blocking, so a FIFO is refused instead of waiting for a writer.
    FileNotFoundError and other OSErrors of the open pass through.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise FileRefused("is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(f"is not a regular file (it is a {_kind(info.st_mode)})")
        if info.st_size > max_bytes:
            raise FileRefused(f"is {info.st_size:,} bytes; a config file may be at most {max_bytes:,}", True)
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b"".join(chunks)
            total += len(chunk)
            if total > max_bytes:  # it grew while being read
                raise FileRefused(f"is larger than {max_bytes:,} bytes, the most a config file may be", True)
            chunks.append(chunk)
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "named pipe"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


def show_tag(tag: str) -> str:
    return "!!" + tag[len(_CORE):] if tag.startswith(_CORE) else tag


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer enforces MAX_DEPTH, MAX_ALIAS_NODES, the tag list and scalar keys."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._alias_nodes = 0
        self._open_anchors: set[str] = set()
        self._sizes: dict[int, int] = {}  # id(node) -> nodes it stands for, aliases expanded

    def compose_node(self, parent, index):
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self._open_anchors:
                raise UnsafeYAML(line, f"the alias *{event.anchor} refers to a value that contains it")
            node = super().compose_node(parent, index)
            self._alias_nodes += self._sizes.get(id(node), 1)
            if self._alias_nodes > MAX_ALIAS_NODES:
                raise UnsafeYAML(
                    line, f"aliases (*name) expand to more than {MAX_ALIAS_NODES:,} values; "
                    "a lightfast.yml never needs that many (is this a 'billion laughs' file?)"
                )
            return node
        tag = getattr(event, "tag", None)
        if tag is not None and tag != "!" and tag not in ALLOWED_TAGS:
            raise UnsafeYAML(line, f"the tag {show_tag(tag)!r} is not allowed; write plain values without tags")
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise UnsafeYAML(line, f"nested more than {MAX_DEPTH} levels deep")
        anchor = getattr(event, "anchor", None)
        if anchor:
            self._open_anchors.add(anchor)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if anchor:
                self._open_anchors.discard(anchor)
        self._sizes[id(node)] = self._size(node)
        return node

    def compose_mapping_node(self, anchor):
        node = super().compose_mapping_node(anchor)
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode):
                raise UnsafeYAML(
                    key.start_mark.line + 1,
                    "a key must be a plain name, not a list or mapping (a '? ' complex key)",
                )
        return node

    def _size(self, node: yaml.Node) -> int:
        if isinstance(node, yaml.SequenceNode):
            return 1 + sum(self._sizes.get(id(child), 1) for child in node.value)
        if isinstance(node, yaml.MappingNode):
            return 1 + sum(self._sizes.get(id(k), 1) + self._sizes.get(id(v), 1) for k, v in node.value)
        return 1
