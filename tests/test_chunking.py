"""The chunker: token limits, overlap, natural boundaries, line numbers."""

from __future__ import annotations

from core.chunking import chunk_text


def words(texts):
    return [len(t.split()) for t in texts]


def test_small_file_is_one_chunk_with_lines():
    chunks = chunk_text("# Title\n\nhello world\n", "a.md", 50, 5, words)
    assert len(chunks) == 1
    assert chunks[0].start_line == 1 and chunks[0].end_line == 3
    assert chunks[0].headings == ("Title",)


def test_empty_and_blank_files_have_no_chunks():
    assert chunk_text("", "a.md", 50, 5, words) == []
    assert chunk_text("\n \n\t\n", "a.md", 50, 5, words) == []


def test_no_chunk_exceeds_max_tokens_and_lines_are_covered():
    text = "\n".join(f"line {i} " + "word " * (i % 7) for i in range(300))
    chunks = chunk_text(text, "notes.txt", 40, 8, words)
    assert all(c.tokens <= 40 for c in chunks)
    assert all(len(c.text.split()) <= 40 for c in chunks)
    covered = set()
    for c in chunks:
        covered.update(range(c.start_line, c.end_line + 1))
    assert covered == set(range(1, 301))
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_overlap_repeats_trailing_lines():
    text = "\n".join(f"alpha{i} beta{i}" for i in range(40))
    chunks = chunk_text(text, "a.txt", 10, 4, words)
    for before, after in zip(chunks, chunks[1:]):
        assert after.start_line <= before.end_line  # overlapping lines
        assert before.text.splitlines()[-1] in after.text


def test_markdown_prefers_heading_boundaries_and_keeps_the_trail():
    sections = []
    for h in range(4):
        sections.append(f"## Section {h}\n" + "\n".join(f"text {h} {i} more words" for i in range(5)))
    text = "# Guide\n\n" + "\n\n".join(sections)
    chunks = chunk_text(text, "guide.md", 40, 0, words)
    starts = [c.text.splitlines()[0] for c in chunks]
    assert all(s.startswith("## Section") or s.startswith("# Guide") for s in starts)
    assert chunks[-1].headings == ("Guide", "Section 3")
    assert chunks[-1].embedding_text().startswith("Guide\n## Section 3")
    assert all(c.tokens <= 40 - 10 for c in chunks)  # room kept for the trail


def test_headings_inside_code_fences_are_not_boundaries():
    text = "# Real\n\n```bash\n# not a heading\necho hi\n```\n"
    chunks = chunk_text(text, "a.md", 100, 0, words)
    assert chunks[0].headings == ("Real",)
    assert "# not a heading" in chunks[0].text


def test_code_splits_at_top_level_definitions():
    funcs = [f"def f{i}(x):\n" + "\n".join(f"    y = x + {j}  # step" for j in range(8)) + "\n    return y\n"
             for i in range(5)]
    chunks = chunk_text("\n".join(funcs), "mod.py", 60, 0, words)
    assert len(chunks) > 1
    assert all(c.text.startswith("def f") for c in chunks)


def test_a_single_huge_line_is_split_under_the_limit():
    line = " ".join(f"w{i}" for i in range(1000))
    chunks = chunk_text(line, "min.js", 100, 10, words)
    assert len(chunks) >= 10
    assert all(c.tokens <= 100 for c in chunks)
    assert all(c.start_line == 1 for c in chunks)


ODD_BREAKS = ["\v", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


def test_only_newlines_break_lines():
    """#15: \\v, \\x1c and U+2028 counted as line breaks, so a 3-line file was indexed as lines 1-6."""
    text = "".join(f"line {i} a{ch}b\n" for i, ch in enumerate(ODD_BREAKS[:3], 1))
    chunks = chunk_text(text, "a.txt", 50, 0, words)
    assert [(c.start_line, c.end_line) for c in chunks] == [(1, 3)]
    assert chunks[0].text == text.rstrip("\n")  # the characters themselves are kept


def test_every_odd_break_stays_inside_its_line():
    for ch in ODD_BREAKS:
        text = f"first{ch}still first\nsecond\nthird\n"
        chunks = chunk_text(text, "a.md", 50, 0, words)
        assert (chunks[0].start_line, chunks[-1].end_line) == (1, 3), repr(ch)


def test_windows_and_old_mac_line_ends_still_count():
    from core.chunking import split_lines

    assert split_lines("a\r\nb\rc\nd") == ["a", "b", "c", "d"]
    assert split_lines("a\n\nb\n") == ["a", "", "b"]
    assert split_lines("") == []


def test_a_three_line_file_with_odd_breaks_is_indexed_as_lines_1_to_3(repo, service_factory):
    from conftest import write_files

    write_files(repo, {"odd.md": "# Owls\x0b and\u2028 herons\nthe barn\x1c owl\nhunts\x85 at night\u2029 quietly\n"})
    service = service_factory(repo)
    service.ingest(stores=["docs"])
    hit = service.search("barn owl hunts at night", stores=["docs"], top_k=1).hits[0]
    assert (hit.path, hit.start_line, hit.end_line) == ("odd.md", 1, 3)
