"""A threaded JSON HTTP server with fault injection, shared by the wire servers."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class Faults:
    """Either a scripted queue of faults for the next requests, or a random rate."""

    def __init__(self):
        self.lock = threading.Lock()
        self.script: deque[str] = deque()
        self.rate = 0.0
        self.kinds = ("429", "500", "slow", "drop")
        self.slow_seconds = 2.0
        self.rng = random.Random(2)  # seeded: the same faults every run (seed 0 draws none < 0.1 for 35 requests)
        self.injected: dict[str, int] = {}

    def next(self) -> str | None:
        with self.lock:
            kind = self.script.popleft() if self.script else None
            if kind is None and self.rate and self.rng.random() < self.rate:
                kind = self.rng.choice(self.kinds)
            if kind:
                self.injected[kind] = self.injected.get(kind, 0) + 1
            return kind


class JsonServer:
    """Subclasses implement handle(method, path, query, body, headers) -> (status, dict)."""

    def __init__(self):
        self.faults = Faults()
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                url = urlparse(self.path)
                server.requests.append((self.command, url.path))
                fault = server.faults.next()
                if fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault == "slow":
                    time.sleep(server.faults.slow_seconds)
                if fault == "429":
                    return self._send(429, {"error": {"code": "RESOURCE_EXHAUSTED", "message": "slow down"}},
                                      {"Retry-After": "0"})
                if fault == "400":
                    return self._send(400, {"error": {"code": "INVALID_ARGUMENT", "message": "injected"}})
                if fault == "500":
                    return self._send(500, {"error": {"code": "INTERNAL", "message": "injected"}})
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    return self._send(400, {"error": {"code": "INVALID_ARGUMENT", "message": "bad JSON"}})
                status, payload = server.handle(self.command, url.path, parse_qs(url.query), body, self.headers)
                self._send(status, payload)

            def _send(self, status, payload, headers=None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def handle(self, method, path, query, body, headers):  # pragma: no cover - overridden
        raise NotImplementedError
