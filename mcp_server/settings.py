"""The MCP server's settings, and the limits its tools' input schemas publish.

The limits are module constants, not settings: they are part of each tool's
input schema, which clients cache, so they change with the code, never per run.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_TOP_K = 50  # tighter than the service's own limit (core.search.MAX_TOP_K): answers stay compact
MAX_QUERY_CHARS = 4000  # as core.search.MAX_QUERY_CHARS, which the service enforces
DEFAULT_MAX_CHARS = 8000  # ~2k tokens: far below Claude Code's ~25k-token cap on a tool result
READ_CHUNK_MAX_CHARS = 12000
MAX_CHARS = 60000

INSTRUCTIONS = (
    "Semantic search over this repository's documents and code (one namespace per store in a "
    "shared vector index). Use `search` first and expand a hit with `read_chunk`; run `ingest` "
    "after files change. Answers are compact: raise max_chars only when you need more."
)


class ServerSettings(BaseModel):
    """How one server process serves (`python -m mcp_server` builds it from its flags)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("lightfast", description="The server's name in the MCP handshake.")
    instructions: str = Field(INSTRUCTIONS, description="What the handshake tells the client's model "
                                                        "about using the tools.")
    read_only: bool = Field(False, description="Leave out ingest and ingest_status (`--read-only`): "
                                               "the server can only read the index.")
    ingest_lock_wait_s: float = Field(60.0, ge=0, description="How long an ingest waits for the data "
                                      "dir's writer lock (another process ingesting) before it fails.")
