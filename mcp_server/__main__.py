"""`python -m mcp_server` / `lightfast mcp`: start the server over stdio or streamable HTTP.

stdout belongs to the protocol in stdio mode: everything else goes to stderr.
Over HTTP, bearer tokens from the tokens file guard every request
(mcp_server/auth.py); stdio needs none (its client started the process).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from pathlib import Path


def serve(config: str | None, http: bool = False, host: str = "127.0.0.1", port: int = 8765,
          read_only: bool = False, watch: bool = False, tokens: str | None = None) -> None:
    """Serve until stopped. Over HTTP, bearer tokens are required whenever the tokens file
    (tokens, default $LIGHTFAST_HOME/tokens.json) holds any; a non-loopback host without
    tokens is refused (ScopeError) before anything binds."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from core.service import Lightfast
    from mcp_server.server import LightfastMCP
    from mcp_server.settings import ServerSettings

    # Reads lightfast.yml only (a broken one fails here, before the handshake, with its line);
    # the mirror, the index and the model open on first use, or in warm_in_background.
    service = Lightfast.open(Path(config) if config else None)
    path = service.config.source_path
    auth, store = None, None
    if http:
        from mcp_server.auth import TokenFileVerifier, auth_settings, check_bind

        store = service.token_store(Path(tokens) if tokens else None)
        if check_bind(host, store):  # refuses a public address without tokens
            auth = {"token_verifier": TokenFileVerifier(store), "auth": auth_settings(_base_url(host, port))}
    server = LightfastMCP(service, ServerSettings(read_only=read_only), **(auth or {}))
    warm_in_background(service)
    if watch and not read_only:
        from mcp_server.watching import start_watcher

        start_watcher(service)
    log = logging.getLogger("lightfast.mcp")
    if http:
        log.info("serving %s over streamable HTTP at %s/mcp", path, _base_url(host, port))
        _serve_http(server, host, port, required=auth is not None, tokens_file=store.path)
    else:
        log.info("serving %s over stdio", path)
        server.run()


def warm_in_background(service) -> threading.Thread:
    """Open the mirror and load the model in a thread, so the handshake is not delayed; log when ready."""

    def run():
        started = time.perf_counter()
        try:
            model = service.warm()
            log.info("ready: %s loaded in %.1f s", model, time.perf_counter() - started)
        except Exception as exc:  # the client sees the same error as a tool error on its first call
            log.warning("warm-up failed: %s", exc)

    log = logging.getLogger("lightfast.mcp")
    thread = threading.Thread(target=run, name="lightfast-warmup", daemon=True)
    thread.start()
    return thread


def _base_url(host: str, port: int) -> str:
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def _serve_http(server, host: str, port: int, *, required: bool, tokens_file: Path) -> None:
    """uvicorn over the SDK's streamable HTTP app (with its auth middleware when tokens are
    required); logs 'listening on URL' once the socket accepts connections, with the real port
    (--port 0 picks a free one)."""
    import uvicorn
    from mcp.server.transport_security import TransportSecuritySettings

    from mcp_server.auth import is_loopback

    log = logging.getLogger("lightfast.mcp")
    any_port = str(port) if port else "*"
    named = f"[{host}]" if ":" in host else host
    if is_loopback(host):
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=[f"{named}:{any_port}", f"localhost:{any_port}", f"127.0.0.1:{any_port}"],
            allowed_origins=[f"http://{named}:{any_port}", f"http://localhost:{any_port}",
                             f"http://127.0.0.1:{any_port}"],
        )
    else:
        # Reached by names this process cannot know; a rebinding page has no bearer token to send.
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    app = server.streamable_http_app(transport_security=security, host=host)

    class Server(uvicorn.Server):
        async def startup(self, sockets=None):
            await super().startup(sockets)
            if not self.should_exit and self.servers:
                bound = self.servers[0].sockets[0].getsockname()[1]
                log.info("listening on %s/mcp; %s", _base_url(host, bound),
                         f"bearer tokens required (tokens file {tokens_file})" if required
                         else "no tokens configured: loopback only, no authentication")

    Server(uvicorn.Config(app, host=host, port=port, log_level="info")).run()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mcp_server", description=__doc__)
    parser.add_argument("--config", default=os.environ.get("LIGHTFAST_CONFIG"),
                        help="lightfast.yml (default: $LIGHTFAST_CONFIG, or found from the working directory upwards)")
    parser.add_argument("--http", action="store_true", help="streamable HTTP instead of stdio")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="HTTP port (default 8765)")
    parser.add_argument("--read-only", action="store_true", help="no ingest tool")
    parser.add_argument("--watch", action="store_true", help="re-ingest files as they change")
    parser.add_argument("--tokens", default=None,
                        help="bearer tokens file for --http (default: $LIGHTFAST_HOME/tokens.json)")
    args = parser.parse_args(argv)
    from core.errors import LightfastError

    try:
        serve(args.config, args.http, args.host, args.port, args.read_only, args.watch, args.tokens)
    except LightfastError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
