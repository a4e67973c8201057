"""Namespace naming: the design's examples, one rule, collisions and limits."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import NamingError
from core.naming import MAX_NAMESPACE, MAX_PART, check_collisions, namespace_name, sanitize_part

PATTERN = re.compile(r"^org_[a-z0-9]{1,50}:ws_[a-z0-9]{1,50}:store_[a-z0-9]{1,50}$")


def _seed_typescript(s: str) -> str:
    """The seed's sanitize(): s.toLowerCase().replace(/[^a-z0-9_-]+/g, "").slice(0, 50)."""
    return re.sub(r"[^a-z0-9_-]+", "", s.lower())[:50]


def _seed_sql(s: str) -> str:
    """The seed's migration: LOWER(REGEXP_REPLACE(s, '[^a-z0-9]', '', 'g'))."""
    return re.sub(r"[^a-z0-9]", "", s).lower()


def test_the_typescript_example():
    # sanitizeNamespaceName("acme-corp", "platform-eng", "api-docs") in the design.
    assert namespace_name("acme-corp", "platform-eng", "api-docs") == "org_acmecorp:ws_platformeng:store_apidocs"
    # The seed's own code keeps hyphens and so contradicts its example; we follow the example.
    assert _seed_typescript("acme-corp") == "acme-corp" != sanitize_part("acme-corp", "organization")


def test_the_sql_example_and_the_documented_difference_on_capitals():
    # Same result as the SQL migration on lowercase ids ...
    for raw in ("acme-corp", "platform-eng", "api-docs", "org_abc123", "ws-42"):
        assert sanitize_part(raw, "part") == _seed_sql(raw)
    sql_name = f"org_{_seed_sql('acme-corp')}:ws_{_seed_sql('platform-eng')}:store_{_seed_sql('api-docs')}"
    assert namespace_name("acme-corp", "platform-eng", "api-docs") == sql_name
    # ... but the SQL strips capitals before lowercasing ("Acme" -> "cme"); our rule keeps the letters.
    assert _seed_sql("Acme") == "cme"
    assert sanitize_part("Acme", "organization") == "acme"


def test_unicode_is_folded_to_ascii():
    assert sanitize_part("Café Ünïcode", "store slug") == "cafeunicode"
    assert sanitize_part("ＡＰＩ－Ｄｏｃｓ", "store slug") == "apidocs"  # full-width forms
    assert sanitize_part("ﬁle", "store slug") == "file"  # the ligature decomposes
    assert sanitize_part("docs_日本語", "store slug") == "docs"  # what has no ASCII form is dropped


def test_parts_are_cut_to_50_characters():
    assert sanitize_part("x" * 200, "store slug") == "x" * MAX_PART
    assert sanitize_part("a-" * 60, "store slug") == "a" * MAX_PART  # cut after cleaning, not before
    name = namespace_name("o" * 500, "w" * 500, "s" * 500)
    assert PATTERN.match(name) and len(name) == 4 + 50 + 4 + 50 + 7 + 50 <= MAX_NAMESPACE == 512


@pytest.mark.parametrize("raw", ["", "   ", "---", "日本語", "!!!", "_-_"])
def test_empty_parts_are_errors_naming_the_part_and_the_value(raw):
    with pytest.raises(NamingError) as info:
        namespace_name("acme", "web", raw)
    assert f"store slug {raw!r} has no letters or digits" in str(info.value)
    with pytest.raises(NamingError, match="organization"):
        namespace_name(raw, "web", "docs")
    with pytest.raises(NamingError, match="workspace"):
        namespace_name("acme", raw, "docs")


def test_collisions_name_both_triples_and_the_shared_name():
    with pytest.raises(NamingError) as info:
        check_collisions([("acme", "web", "docs"), ("acme", "web", "api-docs"), ("acme", "web", "api_docs")])
    message = str(info.value)
    assert "('acme', 'web', 'api-docs')" in message and "('acme', 'web', 'api_docs')" in message
    assert "'org_acme:ws_web:store_apidocs'" in message
    with pytest.raises(NamingError, match="both sanitize"):
        check_collisions([("Acme", "web", "docs"), ("acme", "web", "docs")])  # capitals fold too
    with pytest.raises(NamingError, match="both sanitize"):
        check_collisions([("acme", "web", "a" * 50 + "1"), ("acme", "web", "a" * 50 + "2")])  # the cut


def test_no_collision_for_the_same_store_or_different_owners():
    check_collisions([("acme", "web", "docs"), ("acme", "web", "docs")])  # the same store twice
    check_collisions([("acme", "web", "docs"), ("beta", "web", "docs"), ("acme", "api", "docs")])
    check_collisions([])


@given(st.text(max_size=80), st.text(max_size=80), st.text(max_size=80))
def test_names_always_match_the_pattern_or_fail_clearly(org, ws, store):
    try:
        name = namespace_name(org, ws, store)
    except NamingError as exc:
        assert "has no letters or digits" in str(exc)
        return
    assert PATTERN.match(name)
    assert len(name) <= MAX_NAMESPACE
    assert name == namespace_name(org, ws, store)


@given(st.text(max_size=80))
def test_sanitizing_is_idempotent(raw):
    try:
        once = sanitize_part(raw, "part")
    except NamingError:
        return
    assert sanitize_part(once, "part") == once
