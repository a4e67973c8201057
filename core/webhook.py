"""The design's GitHub webhook: a push to a connected repository is fetched and ingested.

An HTTP server (stdlib; 127.0.0.1 by default) takes GitHub `push` events:

1. The body's HMAC-SHA256 under the secret (LIGHTFAST_WEBHOOK_SECRET) must equal
   `X-Hub-Signature-256`, compared in constant time; otherwise 401, before
   anything in the body is read. The secret is never logged or echoed.
2. `X-GitHub-Delivery` ids are remembered in the mirror (webhook_deliveries): a
   replay of one already queued, done or ignored is answered 200 and does
   nothing. A delivery whose run failed may be redelivered (it runs again).
3. The repository (full_name, or one of its URLs) must be a connected repository
   (the mirror's connected_repositories, written by `lightfast webhook connect`
   in the clone); else 404. Pushes to other branches, branch deletions and
   other events are acknowledged and ignored.
4. The answer (202) does not wait for the work: one worker takes deliveries in
   order. It fetches the branch into the local clone and moves it to the push's
   `after`: a fast-forward when the clone's HEAD is an ancestor of it; otherwise
   (a force-push) the clone is reset to `after` with `git reset --keep`. The
   clone belongs to the webhook: commits made only in it are dropped from the
   branch (the reflog keeps them), and a clone with uncommitted changes to
   tracked files is refused rather than touched. A push older than the clone's
   HEAD (redelivered late) changes nothing.
5. It then ingests `git diff LAST..after`, where LAST is the commit the record
   last ingested (at first the clone's HEAD when connected). For a normal push
   LAST is the push's `before`; after a missed delivery or a force-push, the
   tree difference from LAST is still exactly what the index lacks. Deletions
   are git's, so the removal guard (meant for a mistyped root or glob) is off.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import queue
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

from core.errors import GitError, LightfastError, WebhookError
from core.git_changes import ZERO_SHA, check_repository, git, redact, resolve_commit
from core.records import ConnectedRepository

SECRET_ENV = "LIGHTFAST_WEBHOOK_SECRET"
MAX_BODY_BYTES = 25 * 1024 * 1024  # GitHub caps a payload at 25 MB
DEFAULT_PORT = 8787
REMOTE = "origin"

log = logging.getLogger("lightfast.webhook")


def secret_from_env(environ: dict[str, str] | None = None) -> bytes:
    """The shared secret; WebhookError (naming the variable, never a value) when it is unset."""
    value = (environ if environ is not None else os.environ).get(SECRET_ENV, "")
    if not value.strip():
        raise WebhookError(f"{SECRET_ENV} is not set: the webhook refuses to start without the secret "
                           "GitHub signs pushes with (set the same value in the repository's webhook settings)")
    return value.encode()


def sign(secret: bytes, body: bytes) -> str:
    """The X-Hub-Signature-256 value GitHub sends for body."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_ok(secret: bytes, body: bytes, header: str | None) -> bool:
    """Constant-time comparison of the header with the body's signature."""
    if not header:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())


@dataclass(frozen=True)
class PushEvent:
    full_name: str
    urls: tuple[str, ...]
    ref: str
    before: str
    after: str
    forced: bool = False
    deleted: bool = False

    @classmethod
    def from_payload(cls, payload: Any) -> "PushEvent":
        """ValueError saying which field is missing or malformed."""
        if not isinstance(payload, dict):
            raise ValueError("the payload is not a JSON object")
        repo = payload.get("repository")
        if not isinstance(repo, dict) or not isinstance(repo.get("full_name"), str):
            raise ValueError("repository.full_name is missing")
        for name in ("ref", "before", "after"):
            if not isinstance(payload.get(name), str) or not payload[name]:
                raise ValueError(f"{name} is missing")
        for name in ("before", "after"):
            if not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", payload[name]):
                raise ValueError(f"{name} is not a commit sha")
        urls = tuple(repo[k] for k in ("clone_url", "ssh_url", "html_url", "git_url", "url")
                     if isinstance(repo.get(k), str))
        return cls(repo["full_name"], urls, payload["ref"], payload["before"], payload["after"],
                   bool(payload.get("forced")), bool(payload.get("deleted")))


@dataclass
class PushOutcome:
    delivery: str
    repository: str
    status: str  # ok | ignored | failed
    detail: str
    since: str | None = None
    after: str | None = None
    moved: str | None = None  # fast-forward | reset | unchanged
    totals: dict[str, int] = field(default_factory=dict)


def _is_ancestor(root: Path, older: str, newer: str) -> bool:
    return git(root, "merge-base", "--is-ancestor", older, newer, check=False).returncode == 0


def _commit_exists(root: Path, sha: str | None) -> bool:
    if not sha:
        return False
    return git(root, "cat-file", "-e", f"{sha}^{{commit}}", check=False).returncode == 0


def move_clone(root: Path, branch: str, after: str) -> tuple[str, str]:
    """Fetch branch and move the clone to after; returns (HEAD before, how it moved)."""
    check_repository(root)
    current = git(root, "symbolic-ref", "--quiet", "--short", "HEAD", check=False).stdout.decode().strip()
    if current != branch:
        raise WebhookError(f"the clone at {root} has {current or 'a detached HEAD'} checked out, not {branch}: "
                           f"run `git checkout {branch}` there")
    if git(root, "status", "--porcelain", "--untracked-files=no").stdout.strip():
        raise WebhookError(f"the clone at {root} has uncommitted changes to tracked files; the webhook does not "
                           "overwrite them: commit, stash or discard them (`git status` lists them)")
    git(root, "fetch", "--quiet", "--no-tags", REMOTE, f"+refs/heads/{branch}:refs/remotes/{REMOTE}/{branch}")
    if not _commit_exists(root, after):
        raise WebhookError(f"commit {after[:12]} of the push is not in {REMOTE}/{branch} after a fetch "
                           "(pushed over since, or another remote?)")
    head = resolve_commit(root, "HEAD", "HEAD")
    if head == after or _is_ancestor(root, after, head):
        return head, "unchanged"  # already there or past it (a late delivery)
    if _is_ancestor(root, head, after):
        git(root, "merge", "--ff-only", "--quiet", after)
        return head, "fast-forward"
    git(root, "reset", "--quiet", "--keep", after)  # a force-push: the remote's history wins
    return head, "reset"


def apply_push(record: ConnectedRepository, event: PushEvent, delivery: str,
               open_service: Callable[[Path], Any], mirror) -> PushOutcome:
    """Bring the record's clone to the push and ingest what changed (see the module doc)."""
    outcome = PushOutcome(delivery, record.full_name, "ignored", "", after=event.after)
    if event.ref != f"refs/heads/{record.branch}":
        outcome.detail = f"push to {event.ref}; this repository follows refs/heads/{record.branch}"
        return outcome
    if event.deleted or event.after == ZERO_SHA:
        outcome.detail = "the branch was deleted; nothing to ingest"
        return outcome
    root = Path(record.clone_path)
    _, moved = move_clone(root, record.branch, event.after)
    outcome.moved = moved
    now = resolve_commit(root, "HEAD", "HEAD")
    since = record.last_sha if _commit_exists(root, record.last_sha) else None
    if since == now:
        outcome.status, outcome.detail, outcome.since = "ok", f"already ingested up to {now[:12]}", since
        return outcome
    service = open_service(Path(record.config_path))
    if since is None:  # nothing known ingested from this clone: a whole ingest converges
        report = service.ingest()
        outcome.detail = f"{moved} to {now[:12]}; ingested the whole repository (no earlier ingested commit known)"
    else:
        report, changes = service.ingest_since(since, None, force=True)  # git deleted them: no guard
        counts = ", ".join(f"{n} {what}" for what, n in sorted(changes.counts().items())) or "no file changes"
        outcome.detail = f"{moved} to {now[:12]}; git {since[:12]}..{now[:12]}: {counts}"
    mirror.set_repository_sha(record.id, now)
    outcome.status, outcome.since, outcome.totals = "ok", since, report.totals()
    return outcome


class WebhookServer:
    """Binds at construction (port 0: any free port; `url` says which); `start()` serves in threads."""

    def __init__(self, mirror, secret: bytes, open_service: Callable[[Path], Any], *, host: str = "127.0.0.1",
                 port: int = DEFAULT_PORT, on_done: Callable[[PushOutcome], None] | None = None):
        if not secret:
            raise WebhookError(f"{SECRET_ENV} is empty: the webhook refuses to start without a secret")
        self.mirror = mirror
        self._secret = secret
        self.open_service = open_service
        self.on_done = on_done or (lambda outcome: None)
        self._queue: queue.Queue = queue.Queue()
        self._threads: list[threading.Thread] = []
        try:
            self.httpd = ThreadingHTTPServer((host, port), self._handler())
        except OSError as exc:
            raise WebhookError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self.httpd.daemon_threads = True
        # Queued by a webhook that stopped (killed) before running them: redeliveries may run them.
        mirror.fail_unfinished_deliveries()
        bound_host, bound_port = self.httpd.server_address[:2]
        self.url = f"http://{bound_host}:{bound_port}/"

    # -- serving -------------------------------------------------------------------------
    def start(self) -> "WebhookServer":
        for target, name in ((self.httpd.serve_forever, "lightfast-webhook-http"),
                             (self._work, "lightfast-webhook-worker")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._queue.put(None)
        self.httpd.shutdown()
        self.httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=60)

    def __enter__(self) -> "WebhookServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            delivery, record, event = item
            try:
                outcome = apply_push(record, event, delivery, self.open_service, self.mirror)
            except (LightfastError, GitError) as exc:
                outcome = PushOutcome(delivery, record.full_name, "failed", redact(str(exc)), after=event.after)
            except Exception as exc:  # our bug: keep serving, say so (never with the secret: it is not in here)
                log.exception("delivery %s failed", delivery)
                outcome = PushOutcome(delivery, record.full_name, "failed",
                                      redact(f"internal error: {exc.__class__.__name__}: {exc}"), after=event.after)
            try:
                self.mirror.finish_delivery(delivery, outcome.status, outcome.detail[:1000])
            finally:
                self.on_done(outcome)

    # -- one request -------------------------------------------------------------------------
    def receive(self, headers, body: bytes) -> tuple[int, dict]:
        """(status, JSON answer) for one POST; the work itself is queued."""
        if not signature_ok(self._secret, body, headers.get("X-Hub-Signature-256")):
            return 401, {"error": "bad or missing X-Hub-Signature-256"}
        kind = headers.get("X-GitHub-Event", "")
        if kind == "ping":
            return 200, {"status": "pong"}
        if kind != "push":
            return 202, {"status": "ignored", "reason": f"event '{kind}' is not a push"}
        delivery = (headers.get("X-GitHub-Delivery") or "").strip()
        if not delivery or len(delivery) > 200:
            return 400, {"error": "X-GitHub-Delivery is missing"}
        try:
            event = PushEvent.from_payload(json.loads(body))
        except ValueError as exc:  # json's own errors are ValueErrors too
            return 400, {"error": f"not a push payload: {exc}"}
        record = self.mirror.connected_repository(event.full_name, event.urls)
        if record is None:
            return 404, {"error": f"repository {event.full_name} is not connected: run `lightfast webhook "
                                  f"connect {event.full_name}` in its clone"}
        if not self.mirror.claim_delivery(delivery, record.full_name):
            return 200, {"status": "replay ignored", "delivery": delivery}
        self._queue.put((delivery, record, event))
        return 202, {"status": "queued", "delivery": delivery, "repository": record.full_name}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "lightfast-webhook"
            sys_version = ""

            def do_POST(self):
                length = self.headers.get("Content-Length")
                if length is None or not length.isdigit():
                    return self._answer(411, {"error": "Content-Length is required"}, close=True)
                if int(length) > MAX_BODY_BYTES:
                    return self._answer(413, {"error": f"payload over {MAX_BODY_BYTES:,} bytes"}, close=True)
                body = self.rfile.read(int(length))
                try:
                    status, answer = server.receive(self.headers, body)
                except Exception:
                    log.exception("webhook request failed")
                    status, answer = 500, {"error": "internal error (see the webhook's log)"}
                self._answer(status, answer)

            def do_GET(self):
                if self.path.split("?")[0] in ("/healthz", "/"):
                    return self._answer(200, {"status": "ok"})
                self._answer(404, {"error": "not found"})

            def _answer(self, status: int, payload: dict, close: bool = False):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if close:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, fmt, *args):  # request lines carry no secret; keep them at debug
                log.debug("%s %s", self.address_string(), fmt % args)

        return Handler


def connect_record(root: Path, config_path: Path, full_name: str, branch: str | None,
                   clone_url: str | None) -> dict:
    """A connected_repositories row for the clone at root (checked), without credentials in its URL."""
    check_repository(root)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", full_name):
        raise WebhookError(f"'{full_name}' is not a GitHub repository name: give OWNER/NAME, e.g. acme/api")
    if branch is None:
        branch = git(root, "symbolic-ref", "--quiet", "--short", "HEAD", check=False).stdout.decode().strip()
        if not branch:
            raise WebhookError(f"the clone at {root} has a detached HEAD: give --branch")
    if clone_url is None:
        got = git(root, "remote", "get-url", REMOTE, check=False)
        if got.returncode != 0:
            raise WebhookError(f"the clone at {root} has no remote '{REMOTE}' to fetch pushes from: "
                               f"`git remote add {REMOTE} URL`")
        clone_url = got.stdout.decode().strip()
    return {"full_name": full_name, "clone_url": redact(clone_url).replace("***@", ""),
            "clone_path": str(root), "config_path": str(config_path), "branch": branch,
            "head": resolve_commit(root, "HEAD", "HEAD")}
