"""One error hierarchy for everything a user can cause or meet.

Each face (CLI, TUI, MCP) translates a LightfastError once: an exit code and a
message, a notification, or a tool error. Anything else is our bug.
"""

from __future__ import annotations


class LightfastError(Exception):
    """Base class: a problem the user can act on. The message says what and where."""

    exit_code = 1


class ConfigError(LightfastError):
    """lightfast.yml is missing, malformed or inconsistent."""

    exit_code = 2


class NamingError(LightfastError):
    """A namespace name cannot be built (empty part, too long, collision)."""

    exit_code = 2


class NotFoundError(LightfastError):
    """A store, namespace, index or chunk that was asked for does not exist."""

    exit_code = 3


class DimensionMismatchError(LightfastError):
    """A vector's dimension or model differs from what its namespace was built with."""

    exit_code = 4


class BackendError(LightfastError):
    """A vector or embedding service failed after retries. Never carries a secret."""

    exit_code = 5


class ScopeError(LightfastError):
    """A request reaches outside what this configuration may touch (org, workspace, repo root)."""

    exit_code = 6


class LockedError(LightfastError):
    """Another process holds the writer lock for this data dir or namespace."""

    exit_code = 7


class RemovalRefusedError(LightfastError):
    """An ingest would remove most of a store's documents; refused until the user confirms it."""

    exit_code = 1


class IndexDamagedError(LightfastError):
    """A file of the index or its metadata is damaged; the message names it and the command that recovers."""

    exit_code = 5


class StorageError(LightfastError):
    """The data dir cannot be written (full disk, read-only, no permission); nothing committed is lost."""

    exit_code = 8


class InvalidArgumentError(LightfastError):
    """A name, id, vector, metadata, filter, top_k or limit is malformed or out of range."""


class InvalidQueryError(InvalidArgumentError):
    """A search request is malformed: an empty or too long query, top_k out of range, an unknown mode."""


class StatsQueryError(InvalidArgumentError):
    """SQL given to the stats database does not parse, is not one read-only statement, or fails."""


class MetricMismatchError(LightfastError):
    """An index exists with another distance metric than asked for; a metric never changes."""


class DeletionProtectedError(LightfastError):
    """An index has deletion protection on; it must be turned off in its profile first."""


class NamespaceFolderError(LightfastError):
    """A namespace folder of the local index is not the namespace's own (another name, two incarnations, a symlink out)."""


class ConcurrentChangeError(LightfastError):
    """A namespace kept changing while being read; running the command again reads it."""


class CredentialsMissingError(LightfastError):
    """A cloud service needs an API key that is not set; the message names the variable."""


class SettingError(LightfastError):
    """An environment variable or engine setting has a value Lightfast cannot use."""


class ModelUnavailableError(LightfastError):
    """The offline embedding model, or a runtime its engine needs, is not installed or incomplete."""


class MigrationStepError(LightfastError):
    """A migration step cannot run yet (an earlier step is missing) or not into this profile."""


class WatchError(LightfastError):
    """The repository cannot be watched (its root vanished or cannot be read)."""


class PathOutsideRepoError(ScopeError):
    """A path given to ingest is empty, unresolvable, or lies outside the repository root."""


class GitError(LightfastError):
    """git is missing, the repo root is not in a git repository, or a revision is unknown."""

    exit_code = 2


class WebhookError(LightfastError):
    """The webhook cannot start (no secret, a bad address) or a push cannot be applied to its clone."""

    exit_code = 2


class TokenFileError(ConfigError):
    """The bearer tokens file is damaged; the message names it, the line, and how to recover."""


class NamespaceLimitError(LightfastError):
    """Every index a new namespace could go to is at its namespace limit; add an overflow index."""

    exit_code = 5


class MirrorDamagedError(LightfastError):
    """mirror.sqlite is not a readable SQLite database; the message names it and `lightfast doctor --repair`."""

    exit_code = 5


class NoNamespaceError(NotFoundError):
    """A store of this lightfast.yml has no namespace yet in this environment: ingest it first."""

    exit_code = 1  # as `lightfast namespaces delete` has always exited for it (tests/test_cli_lock.py)
