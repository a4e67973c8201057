"""Failures as the client reads them: the one place the server turns an exception into words.

Tools and resources raise core's errors (core.errors.LightfastError and its
subclasses) as they come; the server passes every failed tool call through
`tool_error` and every failed resource read through `resource_error`. A core
error is the user's to fix and its message says how; anything else is our bug
or the system's, and the client gets no more than its kind (the server log has
the traceback).
"""

from __future__ import annotations

from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError, UnexpectedToolError
from pydantic import ValidationError

from core.errors import LightfastError
from mcp_server.arguments import argument_error


def core_error(exc: BaseException) -> LightfastError | None:
    """The core error an SDK wrapper carries (as its cause), if any."""
    for found in (exc, exc.__cause__):
        if isinstance(found, LightfastError):
            return found
    return None


def failure_text(exc: BaseException) -> str:
    """A failure in words for a run's record (ingest_status): core's message, the system's words
    for an OSError (a disk, a permission: the file it names included), else only the kind."""
    if isinstance(exc, LightfastError):
        return str(exc)
    if isinstance(exc, OSError):
        return (f"{exc.strerror or exc} ({type(exc).__name__}"
                + (f", {exc.filename})" if exc.filename else ")"))
    return f"internal error ({type(exc).__name__}); see the server log"


def tool_error(exc: ToolError, name: str, schema: dict | None, known: list[str]) -> ToolError:
    """A failed call of tool `name` (schema: its input schema; None for an unknown tool) as the
    error the client reads."""
    core = core_error(exc)
    if core is not None:
        return ToolError(str(core))
    if isinstance(exc, UnexpectedToolError):
        return exc  # our bug: the SDK's 'Error executing tool NAME'; the log has the traceback
    if schema is None:
        return ToolError(f"unknown tool '{name}': this server has {', '.join(known)}")
    if isinstance(exc.__cause__, ValidationError):
        return ToolError(argument_error(name, exc.__cause__.errors(), schema))
    prefix = f"Error executing tool {name}: "  # the SDK's; the client knows which tool it called
    return ToolError(str(exc).removeprefix(prefix))


def resource_error(exc: ResourceError) -> ResourceError:
    """A failed resource read: a core error (an unknown store, one not ingested, a token's scope)
    means there is no such resource for this caller."""
    core = core_error(exc)
    return ResourceNotFoundError(str(core)) if core is not None else exc
