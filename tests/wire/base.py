"""A threaded JSON HTTP server with fault injection, shared by the wire servers.

Faults are set at run time, either scripted for the next requests
(`faults.fail_next("429", "drop")`) or drawn at a rate from `faults.kinds`
(`faults.rate = 0.2`). Kinds: "429" (with Retry-After: faults.retry_after),
"500", "400", "slow" (answers after faults.slow_seconds, longer than a
client's timeout) and "drop" (closes the socket without a response).
`faults.retry_after = None` sends a 429 with no Retry-After at all (as Cohere
does when a per-minute quota runs out).
Counters: `requests` (method, path) of every request, `faults.injected` per kind.
"""

from __future__ import annotations

import json
import random
import socket
import threading
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

FAULT_KINDS = ("429", "500", "400", "slow", "drop", "pass")  # "pass": a scripted request that succeeds


class Faults:
    """Either a scripted queue of faults for the next requests, or a random rate."""

    def __init__(self, seed: int = 2):
        self.lock = threading.Lock()
        self.script: deque[str] = deque()
        self.rate = 0.0
        self.kinds: tuple[str, ...] = ("429", "500", "slow", "drop")
        self.slow_seconds = 2.0
        self.retry_after: str | None = "0"  # seconds, as the header's text; None: no header
        self.rng = random.Random(seed)  # seeded: the same faults every run
        self.injected: Counter[str] = Counter()
        self.only_paths: tuple[str, ...] = ()  # when set, only requests to these paths are faulted

    def fail_next(self, *kinds: str) -> None:
        for kind in kinds:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault {kind!r}; one of {FAULT_KINDS}")
        with self.lock:
            self.script.extend(kinds)

    def always(self, *kinds: str) -> None:
        """Every request fails with one of kinds (until clear())."""
        self.kinds, self.rate = kinds, 1.0

    def clear(self) -> None:
        with self.lock:
            self.script.clear()
        self.rate = 0.0

    def next(self, path: str) -> str | None:
        if self.only_paths and path not in self.only_paths:
            return None
        with self.lock:
            kind = self.script.popleft() if self.script else None
            if kind is None and self.rate and self.rng.random() < self.rate:
                kind = self.rng.choice(self.kinds)
            if kind == "pass":
                return None
            if kind:
                self.injected[kind] += 1
            return kind


class JsonServer:
    """Subclasses implement handle(method, path, query, body, headers) -> (status, dict).

    Several servers may share one Faults and one request log (a service's
    control plane and its data planes).
    """

    def __init__(self, faults: Faults | None = None, requests: list | None = None):
        self.faults = faults if faults is not None else Faults()
        self.requests: list[tuple[str, str]] = requests if requests is not None else []
        self._stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                # Headers and body go out in two writes: without this, Nagle and delayed ACKs
                # add ~40 ms to every response.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                url = urlparse(self.path)
                server.requests.append((self.command, url.path))
                fault = server.faults.next(url.path)
                try:
                    if fault == "drop":
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    if fault == "slow":
                        server._stopping.wait(server.faults.slow_seconds)
                    if fault == "429":
                        return self._send(429, {"error": {"code": "RESOURCE_EXHAUSTED", "message": "Too many requests"},
                                                "message": "Too many requests"},
                                          {} if server.faults.retry_after is None
                                          else {"Retry-After": str(server.faults.retry_after)})
                    if fault == "400":
                        return self._send(400, {"error": {"code": "INVALID_ARGUMENT", "message": "injected"},
                                                "message": "injected"})
                    if fault == "500":
                        return self._send(500, {"error": {"code": "INTERNAL", "message": "injected"},
                                                "message": "injected"})
                    try:
                        body = json.loads(raw) if raw else {}
                    except ValueError:
                        return self._send(400, {"error": {"code": "INVALID_ARGUMENT", "message": "bad JSON"}})
                    answer = server.handle(self.command, url.path, parse_qs(url.query), body, self.headers)
                    self._send(*answer)  # (status, payload) or (status, payload, headers)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    self.close_connection = True  # the client gave up (a slow fault): nothing to answer

            def _send(self, status, payload, headers=None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def count(self, path: str | None = None, method: str | None = None) -> int:
        """Requests received (faulted ones included), optionally to one path and method."""
        return sum(1 for m, p in list(self.requests)
                   if (path is None or p == path) and (method is None or m == method))

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self._stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def handle(self, method, path, query, body, headers):  # pragma: no cover - overridden
        raise NotImplementedError


class FakeClock:
    """A clock that moves only when something sleeps on it: pass `clock.now` to a server and
    `clock.sleep` / `clock.now` to a RetryPolicy, and waits cost no real time. `sleeps` records them."""

    def __init__(self, start: float = 1000.0):
        self.t = start
        self.sleeps: list[float] = []
        self.lock = threading.Lock()

    def now(self) -> float:
        with self.lock:
            return self.t

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.sleeps.append(seconds)
            self.t += seconds

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.t += seconds
