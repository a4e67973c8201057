"""Credentials by content: a file that holds one is skipped whole, never chunked or embedded.

Two kinds of evidence:
- a credential's own format (a private key block, a provider's key prefix, a
  Slack webhook URL, a password inside a URL): SECRET_PATTERNS;
- a random-looking value assigned to a name that says it is secret (secret,
  password, token, api_key ...), in YAML, .env, JSON, TOML or code assignments:
  `_assigned_secret`. Ordinary docs must pass: a type (`password: str`), a call
  (`token = tokenize(x)`), a placeholder (`<your-token>`, `xxx`, `changeme`) or
  a plain word is not a value of this kind, so the value must look random:
  long enough, letters and digits mixed, and high in entropy.

A report names the kind and the line, never the value.
"""

from __future__ import annotations

import math
import re
from collections import Counter

# Patterns of credentials by their own format; a match skips the whole file.
SECRET_PATTERNS = [
    ("private key block", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    ("PuTTY private key", re.compile(r"^PuTTY-User-Key-File-\d+:", re.MULTILINE)),
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    # The 40-character secret key alone, named as AWS tools name it (no AKIA id needed).
    ("AWS secret access key", re.compile(
        r"(?i)aws_?secret_?(?:access_?)?key[\"']?\s*(?:=|:|=>)\s*[\"']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])")),
    ("GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})")),
    ("Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("Slack webhook URL", re.compile(
        r"https://hooks\.slack(?:-gov)?\.com/(?:services|workflows|triggers)/T[A-Z0-9]{6,}/[A-Z0-9]{6,}/[A-Za-z0-9]{12,}")),
    ("OpenAI/Anthropic key", re.compile(r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{32,}")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("Stripe live key", re.compile(r"\b[rs]k_live_[0-9A-Za-z]{20,}")),
    ("Pinecone API key", re.compile(r"\bpcsk_[A-Za-z0-9_]{20,}")),
    ("JSON web token", re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")),
]

# scheme://user:password@host; the password group is vetted by _is_placeholder.
_URL_PASSWORD = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://([^\s:/@\"'<>]{1,64}):([^\s@/\"'<>]{1,128})@[\w.-]+")

# A secret-sounding name, then an assignment, then a bare or quoted value.
_SECRET_NAME = r"(?:secret|password|passwd|passphrase|pwd|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|auth[_-]?key|credentials?)"
# Found from the secret word on (what precedes it in the name does not matter); every
# repetition is bounded and possessive, so the scan stays linear on any input.
_ASSIGNED = re.compile(
    r"(?i)" + _SECRET_NAME + r"[\w.-]{0,40}+[\"']?"  # the rest of the name, maybe quoted (JSON)
    r"[ \t]{0,8}+(?::=|=>|=|:)[ \t]{0,8}+"  # Python/.env/TOML =, YAML/JSON :, Go :=, Ruby/PHP =>
    r"([\"']?)([A-Za-z0-9+/_\-.~!@#%^&*]{16,256}+={0,2})\1(?![A-Za-z0-9(\[])"  # possessive: never backtracks
)

#: Values that stand in for a secret in docs and samples; never reported.
_PLACEHOLDER_WORDS = {
    "password", "passwd", "pass", "pwd", "secret", "token", "changeme", "change_me", "example",
    "sample", "dummy", "fake", "test", "placeholder", "redacted", "hidden", "none", "null", "xxx",
}
_PLACEHOLDER = re.compile(r"^(?:x+|\*+|\.+|-+|_+|0+|1234\d*|(?:your|my|the|some|fake|dummy|example|sample|test)[_-].*)$", re.I)


#: Text each pattern cannot match without (lowercase): a substring test in C skips the regex
#: for nearly every file, which matters on a whole repo (regexes cost ~1 s per MB here).
_HINTS = {
    "private key block": ("private key",), "PuTTY private key": ("putty-user-key-file",),
    "AWS access key id": ("akia", "asia"), "AWS secret access key": ("secret",),
    "GitHub token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"), "Slack token": ("xox",), "Slack webhook URL": ("hooks.slack",),
    "OpenAI/Anthropic key": ("sk-",), "Google API key": ("aiza",), "Stripe live key": ("k_live_",),
    "Pinecone API key": ("pcsk_",), "JSON web token": ("eyj",),
}
_NAME_WORD = re.compile(_SECRET_NAME)  # run on the ASCII-lowercased text: far cheaper than (?i)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")  # keeps every offset


def secret_in_text(text: str) -> str | None:
    """The kind of credential text contains and its line, or None. Never the secret itself."""
    lower = text.translate(_ASCII_LOWER)
    for kind, pattern in SECRET_PATTERNS:
        if not any(hint in lower for hint in _HINTS.get(kind, ("",))):
            continue
        found = pattern.search(text)
        if found:
            return _where(kind, text, found.start())
    if "://" in text and "@" in text:
        for found in _URL_PASSWORD.finditer(text):
            user, password = found.groups()
            if password != user and not _is_placeholder(password):  # postgres:postgres@ is a default
                return _where("password in a URL", text, found.start())
    for word in _NAME_WORD.finditer(lower):
        found = _ASSIGNED.match(text, word.start())
        if found and _looks_random(found.group(2)):
            return _where("high-entropy value assigned to a secret name", text, found.start())
    return None


def _where(kind: str, text: str, offset: int) -> str:
    return f"contains a {kind} (line {text.count(chr(10), 0, offset) + 1})"


def _is_placeholder(value: str) -> bool:
    """Docs' stand-ins: `<your-token>`, `${DB_PASSWORD}`, `{{ pass }}`, `%(pw)s`, `xxx`, `changeme`..."""
    if any(mark in value for mark in ("<", ">", "${", "{{", "}}", "%(", "%s")) or value.startswith("$"):
        return True
    return value.lower() in _PLACEHOLDER_WORDS or bool(_PLACEHOLDER.match(value))


def _looks_random(value: str) -> bool:
    """Long, letters and digits mixed, and high in entropy: a key, not a word, a name or a path."""
    if len(value) < 16 or _is_placeholder(value):
        return False
    if not (re.search(r"[0-9]", value) and re.search(r"[A-Za-z]", value)):
        return False
    if re.fullmatch(r"[a-z0-9]+(?:[._-][a-z0-9]+)+", value) and not re.search(r"[0-9]{4}|[a-z][0-9][a-z]", value):
        return False  # dotted or snake_case words (module.name, my_service_v2): code, not a key
    counts = Counter(value)
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return entropy >= 3.5
