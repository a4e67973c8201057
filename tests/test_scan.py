"""Repo scanning: default ignores, symlinks, size cap, secret detection."""

from __future__ import annotations

import os

from conftest import write_files
from core.scan import FoundFile, Skipped, decode_text, is_secret_name, secret_in_text, walk_repo


def scan(root, max_bytes=1000):
    found, skipped = {}, {}
    for item in walk_repo(root, max_bytes):
        (found if isinstance(item, FoundFile) else skipped)[item.path] = item
    return found, skipped


def test_walk_skips_default_dirs_and_big_files(repo):
    write_files(repo, {"a.md": "x", ".git/config": "x", "node_modules/m/a.md": "x",
                       ".venv/lib/a.py": "x", "big.md": "y" * 2000})
    found, skipped = scan(repo)
    assert set(found) == {"a.md"}
    assert "larger than" in skipped["big.md"].reason


def test_symlinks_out_of_the_repo_and_loops_are_refused(repo, tmp_path):
    outside = tmp_path / "outside.md"
    outside.write_text("secret outside")
    write_files(repo, {"in.md": "inside"})
    os.symlink(outside, repo / "link-out.md")
    os.symlink(repo / "in.md", repo / "link-in.md")
    os.symlink(repo, repo / "loop")  # a directory symlink: not followed
    os.symlink(repo / "self-a", repo / "self-b")
    os.symlink(repo / "self-b", repo / "self-a")
    found, skipped = scan(repo)
    assert set(found) == {"in.md", "link-in.md"}
    assert skipped["link-out.md"].reason == "symlink to outside the repo"
    assert "unreadable" in skipped["self-a"].reason


def test_secret_names():
    for name in (".env", ".env.local", "prod.env", "id_rsa", "id_ed25519.pub", "cert.pem", "tls.key", ".netrc"):
        assert is_secret_name(name), name
    for name in ("environment.md", "keys.md", "envelope.py", "README.md"):
        assert not is_secret_name(name), name


def test_secret_content_names_the_kind_and_line_but_not_the_value():
    token = "ghp_" + "a" * 36
    found = secret_in_text(f"first\nsecond {token}\n")
    assert found == "contains a GitHub token (line 2)"
    assert token not in found
    assert secret_in_text("just prose about keys and tokens") is None


def test_decode_text():
    assert decode_text(b"a\r\nb\rc") == ("a\nb\nc", None)
    assert decode_text(b"\x00\x01") == (None, "binary file")
    text, reason = decode_text(b"\xff\xfe bad")
    assert text is None and "UTF-8" in reason
