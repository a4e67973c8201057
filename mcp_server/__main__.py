"""`python -m mcp_server` / `lightfast mcp`: start the server over stdio or streamable HTTP.

stdout belongs to the protocol in stdio mode: everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from pathlib import Path


def memo_service(config: str | None):
    """One service per process, built on first use from any thread."""
    lock = threading.Lock()
    holder: dict = {}

    def get():
        with lock:
            if "svc" not in holder:
                from core.service import Lightfast

                holder["svc"] = Lightfast.open(Path(config) if config else None)
            return holder["svc"]

    return get


def serve(config: str | None, http: bool = False, host: str = "127.0.0.1", port: int = 8765,
          read_only: bool = False, watch: bool = False) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from core.config import find_config, load_config
    from mcp_server.server import build_server, warm_in_background

    path = Path(config) if config else find_config()
    load_config(path)  # a broken lightfast.yml fails here, before the handshake, with its line
    get = memo_service(str(path))
    server = build_server(get, read_only=read_only)
    warm_in_background(get)
    if watch and not read_only:
        from mcp_server.watching import start_watcher

        start_watcher(get)
    if http:
        url = f"http://{f'[{host}]' if ':' in host else host}:{port}/mcp"
        logging.getLogger("lightfast.mcp").info("serving %s over streamable HTTP at %s", path, url)
        if host not in ("127.0.0.1", "localhost", "::1"):
            logging.getLogger("lightfast.mcp").warning(
                "binding to %s: anyone who can reach this address can search the index", host)
        from mcp.server.transport_security import TransportSecuritySettings

        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=[f"{host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"],
            allowed_origins=[f"http://{host}:{port}", f"http://localhost:{port}", f"http://127.0.0.1:{port}"],
        )
        server.run("streamable-http", host=host, port=port, transport_security=security)
    else:
        logging.getLogger("lightfast.mcp").info("serving %s over stdio", path)
        server.run()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mcp_server", description=__doc__)
    parser.add_argument("--config", default=os.environ.get("LIGHTFAST_CONFIG"),
                        help="lightfast.yml (default: $LIGHTFAST_CONFIG, or found from the working directory upwards)")
    parser.add_argument("--http", action="store_true", help="streamable HTTP instead of stdio")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="HTTP port (default 8765)")
    parser.add_argument("--read-only", action="store_true", help="no ingest tool")
    parser.add_argument("--watch", action="store_true", help="re-ingest files as they change")
    args = parser.parse_args(argv)
    from core.errors import LightfastError

    try:
        serve(args.config, args.http, args.host, args.port, args.read_only, args.watch)
    except LightfastError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
