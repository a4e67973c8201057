"""Bearer tokens on the HTTP transport, through the MCP SDK's own auth hooks.

The SDK does the HTTP side: given a TokenVerifier and AuthSettings, MCPServer's
streamable HTTP app puts its BearerAuthBackend in front of /mcp and answers
401 (with WWW-Authenticate) to a request without a valid token, before any
MCP message is read. Our verifier looks the token's SHA-256 up in the tokens
file (the service's token_store). For each tool call and resource read, the server takes
the request's token from the SDK's auth context (get_access_token) and runs
the call under its grant, which the service's access check enforces
(workspaces, organization, read-only).
"""

from __future__ import annotations

import ipaddress
import logging

import anyio.to_thread
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings

from core.errors import LightfastError, ScopeError
from core.service import Grant, TokenStore

log = logging.getLogger("lightfast.mcp")

READ_SCOPE = "lightfast:read"
WRITE_SCOPE = "lightfast:write"
LOOPBACK_NAMES = ("localhost",)


class TokenFileVerifier(TokenVerifier):
    """Looks a bearer token up in the tokens file (re-read when it changes, so a revoked
    token is refused from the next request on). A damaged file refuses every token."""

    def __init__(self, store: TokenStore):
        self.store = store

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            grant = await anyio.to_thread.run_sync(self.store.verify, token)
        except LightfastError as exc:  # fail closed, and say why in the log (never the token)
            log.error("refusing every token: %s", exc)
            return None
        if grant is None:
            return None
        scopes = [READ_SCOPE] if grant.read_only else [READ_SCOPE, WRITE_SCOPE]
        return AccessToken(
            token=grant.token_id,  # the secret itself is not kept in the request context
            client_id=grant.token_id, scopes=scopes,
            claims={"organization": grant.organization, "workspaces": list(grant.workspaces),
                    "read_only": grant.read_only},
        )


def auth_settings(url: str) -> AuthSettings:
    """This server as its own resource server for static bearer tokens: no OAuth routes."""
    return AuthSettings(issuer_url=url, resource_server_url=None, required_scopes=[READ_SCOPE])


def request_grant() -> Grant | None:
    """The grant of the token on the request being served; None when the transport has no auth
    (stdio, or HTTP on a loopback address with no tokens configured)."""
    token = get_access_token()
    if token is None or token.claims is None:
        return None
    claims = token.claims
    return Grant(token.client_id, claims["organization"], tuple(claims["workspaces"]), claims["read_only"])


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def check_bind(host: str, store: TokenStore) -> bool:
    """Whether the HTTP server must require tokens; refuses a non-loopback address without any."""
    if store.configured():
        return True
    if not is_loopback(host):
        raise ScopeError(
            f"refusing to serve HTTP on {host} without bearer tokens: anyone who can reach that "
            f"address could search every workspace. Make one with `lightfast tokens add --workspace W` "
            f"(tokens file {store.path}), or bind to 127.0.0.1"
        )
    return False
