"""Hierarchical namespace names: `org_{org}:ws_{workspace}:store_{store}`.

The rule, one for every caller: each part is folded to ASCII (Unicode NFKD,
accents dropped), lowercased, stripped of everything but `[a-z0-9]`, and cut
to 50 characters.

The design states the rule twice and the two disagree. Its TypeScript keeps
`_` and `-` (`[^a-z0-9_-]`), yet its own example turns ("acme-corp",
"platform-eng", "api-docs") into `org_acmecorp:ws_platformeng:store_apidocs`,
which drops hyphens; its SQL migration strips `[^a-z0-9]` BEFORE lowercasing,
so capitals vanish ("Acme" -> "cme"). Ours reproduces the TypeScript example
exactly and agrees with the SQL on lowercase input; on capitals it keeps the
letters ("Acme" -> "acme").

Folding can map two different stores to one name ("api-docs", "api_docs"):
that is an error naming both, never a silently shared namespace. Empty parts
are errors. Names stay far below Pinecone's 512-character namespace limit.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable

from core.errors import NamingError

MAX_PART = 50
MAX_NAMESPACE = 512  # Pinecone's limit on namespace names

_DROP = re.compile(r"[^a-z0-9]+")


def sanitize_part(value: str, what: str = "part") -> str:
    """Fold one part of a name; NamingError if nothing is left."""
    if not isinstance(value, str):
        raise NamingError(f"{what} must be a string, got {type(value).__name__}")
    ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    cleaned = _DROP.sub("", ascii_text.lower())[:MAX_PART]
    if not cleaned:
        raise NamingError(
            f"{what} {value!r} has no letters or digits left after sanitizing "
            "(only a-z and 0-9 are kept): choose a name with some"
        )
    return cleaned


def namespace_name(organization: str, workspace: str, store: str) -> str:
    """`org_{org}:ws_{workspace}:store_{store}`, each part sanitized; NamingError if one is empty."""
    name = (
        f"org_{sanitize_part(organization, 'organization')}"
        f":ws_{sanitize_part(workspace, 'workspace')}"
        f":store_{sanitize_part(store, 'store slug')}"
    )
    if len(name) > MAX_NAMESPACE:  # cannot happen with 50-character parts; kept as a guard
        raise NamingError(f"namespace name {name!r} is longer than Pinecone's {MAX_NAMESPACE} characters")
    return name


def check_collisions(triples: Iterable[tuple[str, str, str]]) -> None:
    """NamingError if two different (org, workspace, store) triples share a name."""
    seen: dict[str, tuple[str, str, str]] = {}
    for triple in triples:
        name = namespace_name(*triple)
        other = seen.get(name)
        if other is not None and other != tuple(triple):
            raise NamingError(
                f"stores {other} and {tuple(triple)} both sanitize to namespace '{name}'; "
                "rename one of them so each store keeps its own namespace"
            )
        seen[name] = tuple(triple)
