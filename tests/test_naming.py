"""Namespace naming: the design's examples, one rule, collisions and limits."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import NamingError
from core.naming import MAX_NAMESPACE, MAX_PART, check_collisions, namespace_name, sanitize_part

PATTERN = re.compile(r"^org_[a-z0-9]{1,50}:ws_[a-z0-9]{1,50}:store_[a-z0-9]{1,50}$")


def test_the_typescript_example():
    # sanitizeNamespaceName("acme-corp", "platform-eng", "api-docs") in the design.
    assert namespace_name("acme-corp", "platform-eng", "api-docs") == "org_acmecorp:ws_platformeng:store_apidocs"


def test_the_sql_example_on_lowercase_input_and_the_documented_difference():
    # The SQL migration: LOWER(REGEXP_REPLACE(x, '[^a-z0-9]', '', 'g')) over ids like "org_abc123".
    assert namespace_name("org_abc123", "ws_def456", "docs") == "org_orgabc123:ws_wsdef456:store_docs"
    # The SQL strips capitals before lowercasing ("Acme" -> "cme"); our rule keeps the letters.
    assert sanitize_part("Acme") == "acme"


def test_unicode_is_folded_and_parts_are_cut():
    assert sanitize_part("Café Ünïcode") == "cafeunicode"
    assert len(sanitize_part("x" * 200)) == MAX_PART


@pytest.mark.parametrize("raw", ["", "   ", "---", "日本語", "!!!"])
def test_empty_parts_are_errors_naming_the_part(raw):
    with pytest.raises(NamingError, match="store slug"):
        namespace_name("acme", "web", raw)


def test_collisions_name_both_stores():
    with pytest.raises(NamingError) as info:
        check_collisions([("acme", "web", "api-docs"), ("acme", "web", "api_docs")])
    assert "'api-docs'" in str(info.value) and "'api_docs'" in str(info.value)
    check_collisions([("acme", "web", "docs"), ("acme", "web", "docs")])  # the same store twice is fine


@given(st.text(max_size=80), st.text(max_size=80), st.text(max_size=80))
def test_names_always_match_the_pattern_or_fail_clearly(org, ws, store):
    try:
        name = namespace_name(org, ws, store)
    except NamingError as exc:
        assert "no letters or digits" in str(exc)
        return
    assert PATTERN.match(name)
    assert len(name) <= MAX_NAMESPACE
    assert name == namespace_name(org, ws, store)
