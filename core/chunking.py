"""Token-aware chunking that prefers natural boundaries.

A document is cut into segments at markdown headings and at top-level code
definitions (never inside a fenced code block); segments are packed into
chunks of at most max_tokens tokens of the embedder's own tokenizer, with
`overlap` tokens of trailing lines repeated at the start of the next chunk.
A segment too big for one chunk is split by lines, and a line too long for
one chunk is split at token boundaries, so no chunk exceeds the model's limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from core.symbols import definitions, symbols_between

CountTokens = Callable[[Sequence[str]], list[int]]
TokenSpans = Callable[[str], list[tuple[int, int]]]

TRAIL_CHARS = 80
TRAIL_TOKENS = 24  # tokens reserved in markdown chunks for the heading trail (80 chars)
MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdx", ".rst", ".txt"}
HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
# A definition at column 0 starts a new segment in code files.
DEFINITION = re.compile(
    r"^(?:async\s+def|def|class|function|func|fn|pub\s+fn|impl|struct|enum|interface|type|"
    r"export\s+(?:default\s+)?(?:async\s+)?(?:function|class|const|interface|type)|const|let|var|"
    r"public|private|protected|static)\b|^@"
)


@dataclass(frozen=True)
class Chunk:
    index: int
    text: str
    start_line: int  # 1-based, inclusive
    end_line: int  # 1-based, inclusive
    headings: tuple[str, ...] = field(default=())
    tokens: int = 0
    #: Names defined in this chunk (functions, classes as `Class.method`, constants): core/symbols.py.
    symbols: tuple[str, ...] = field(default=())

    def embedding_text(self) -> str:
        """What the model embeds: the heading trail gives a chunk its context.

        A chunk that starts with its own heading gets only its parents. The
        trail is capped at TRAIL_CHARS; chunk_text reserves tokens for it.
        """
        parents = self.headings[:-1] if self.text.lstrip().startswith("#") else self.headings
        trail = " > ".join(parents)[:TRAIL_CHARS]
        return f"{trail}\n{self.text}" if trail else self.text


@dataclass
class _Line:
    number: int
    text: str
    tokens: int
    headings: tuple[str, ...]
    boundary: bool  # a segment may start here


def _scan_lines(lines: list[str], counts: list[int], markdown: bool) -> list[_Line]:
    out: list[_Line] = []
    trail: list[tuple[int, str]] = []
    in_fence = False
    for i, (text, tokens) in enumerate(zip(lines, counts)):
        boundary = False
        if FENCE.match(text):
            boundary = not in_fence and markdown
            in_fence = not in_fence
        elif not in_fence:
            heading = HEADING.match(text) if markdown else None
            if heading:
                level = len(heading.group(1))
                trail = [(lvl, title) for lvl, title in trail if lvl < level]
                trail.append((level, heading.group(2)))
                boundary = True
            elif not markdown and text[:1] not in (" ", "\t", "") and DEFINITION.match(text):
                boundary = True
        out.append(_Line(i + 1, text, tokens, tuple(t for _, t in trail), boundary))
    return out


def split_lines(text: str) -> list[str]:
    """Lines as editors, git and grep number them: broken at \n (\r\n and a lone \r too).

    Not str.splitlines, which also breaks at \v, \f, \x1c-\x1e, \x85 and U+2028/9, so
    a file holding those would get line numbers its editor never shows."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":  # a final newline ends the last line; it does not start another
        lines.pop()
    return lines


def chunk_text(
    text: str,
    path: str,
    max_tokens: int,
    overlap: int,
    count_tokens: CountTokens,
    token_spans: TokenSpans | None = None,
) -> list[Chunk]:
    """Cut text into chunks of at most max_tokens tokens (newlines count as free)."""
    if max_tokens < 1:
        raise ValueError("max_tokens must be positive")
    overlap = max(0, min(overlap, max_tokens // 2))
    raw_lines = split_lines(text)
    if not any(line.strip() for line in raw_lines):
        return []
    markdown = any(path.lower().endswith(s) for s in MARKDOWN_SUFFIXES)
    if markdown:
        max_tokens = max(8, max_tokens - min(TRAIL_TOKENS, max_tokens // 4))
    counts = count_tokens(raw_lines)
    lines = _split_long_lines(
        _scan_lines(raw_lines, counts, markdown), max_tokens, count_tokens, token_spans
    )

    chunks: list[Chunk] = []
    current: list[_Line] = []
    size = 0

    def flush() -> list[_Line]:
        nonlocal current, size
        body = current
        while body and not body[-1].text.strip():
            body = body[:-1]
        if any(line.text.strip() for line in body):
            chunks.append(
                Chunk(
                    index=len(chunks),
                    text="\n".join(line.text for line in body),
                    start_line=body[0].number,
                    end_line=body[-1].number,
                    headings=body[0].headings,
                    tokens=sum(line.tokens for line in body),
                )
            )
        # Carry trailing lines (up to `overlap` tokens) into the next chunk.
        carry: list[_Line] = []
        carried = 0
        for line in reversed(body):
            if carried + line.tokens > overlap:
                break
            carry.insert(0, line)
            carried += line.tokens
        current, size = carry, carried
        return body

    for line in lines:
        # Prefer a boundary: start a new chunk at a heading/definition once the
        # current one is at least half full, so sections stay whole.
        if line.boundary and current and size >= max_tokens // 2:
            flush()
            current, size = [], 0  # no overlap across a section boundary
        if size + line.tokens > max_tokens and current:
            flush()
            if size + line.tokens > max_tokens:
                current, size = [], 0
        if not current and not line.text.strip():
            continue
        current.append(line)
        size += line.tokens
    if current:
        flush()
    return _with_symbols(chunks, text, path)


def _with_symbols(chunks: list[Chunk], text: str, path: str) -> list[Chunk]:
    """Each chunk with the names whose definition starts inside it."""
    defs = definitions(text, path)
    if not defs:
        return chunks
    return [replace(c, symbols=symbols_between(defs, c.start_line, c.end_line)) for c in chunks]


def _split_long_lines(
    lines: list[_Line], max_tokens: int, count_tokens: CountTokens, token_spans: TokenSpans | None
) -> list[_Line]:
    out: list[_Line] = []
    for line in lines:
        if line.tokens <= max_tokens:
            out.append(line)
            continue
        if token_spans is not None:
            spans = token_spans(line.text)
            # Re-tokenising a piece can add a token or two at its edges: keep slack.
            step = max(1, int(max_tokens * 0.9))
            pieces = []
            for start in range(0, len(spans), step):
                group = spans[start : start + step]
                end = spans[start + step][0] if start + step < len(spans) else len(line.text)
                pieces.append(line.text[group[0][0] : end])
        else:
            width = max(1, max_tokens * 3)  # ~3 characters a token keeps us under the limit
            pieces = [line.text[i : i + width] for i in range(0, len(line.text), width)]
        piece_counts = count_tokens(pieces)
        for piece, tokens in zip(pieces, piece_counts):
            out.append(_Line(line.number, piece, tokens, line.headings, False))
    return out
