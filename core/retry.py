"""One retry policy for network services: exponential backoff with full jitter.

Retried: 429 (honouring Retry-After, capped), 5xx, timeouts and dropped
connections. Anything else (400, 401, 404...) fails at once. Attempts and the
total time are both bounded, and the time bound is one deadline for the whole
operation: it is checked before every wait, and `call_timed` also hands each
attempt only the time that is left (so a slow attempt cannot outlive it).

A service with per-minute quotas (Cohere) answers 429 without Retry-After;
short backoffs then just burn attempts inside the same minute. A policy with
`rate_window` set waits out that window instead, and says so through
`notify` (by default a warning on the "lightfast.retry" logger, which reaches
stderr), as it does for every wait of NOTICE_S seconds or more. The final error names the operation and the
namespace and gives a short reason: a status, a server's one-line message, or
an exception's type. Never a header, a request, or a key (known secrets are
also scrubbed from server messages).

Our own bugs (a KeyError, a TypeError raised outside the SDKs) are not
service failures: they propagate unchanged so debug mode shows the traceback.
"""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass, field, replace
from typing import Callable, TypeVar

from core.errors import BackendError, LightfastError, SettingError

T = TypeVar("T")

#: Exceptions from these packages are service failures (SDKs, HTTP stacks, sockets).
_SERVICE_MODULES = ("pinecone", "cohere", "httpx", "httpcore", "urllib3", "requests", "socket", "ssl", "http")
_NETWORK_NAMES = ("timeout", "connection", "remoteprotocol", "readerror", "writeerror", "network")
_NETWORK_TEXT = ("timed out", "connection reset", "connection aborted", "disconnected", "connection refused",
                 "remote end closed", "broken pipe", "eof occurred")
_MAX_MESSAGE = 160
DEFAULT_TIMEOUT_S = 20.0
NOTICE_S = 2.0  # waits this long or longer are announced through notify
MIN_ATTEMPT_S = 0.05  # an attempt gets at least this much of the deadline, or is not made

log = logging.getLogger("lightfast.retry")


def _log_notice(message: str) -> None:
    log.warning(message)


def default_timeout() -> float:
    """Seconds per HTTP attempt: LIGHTFAST_HTTP_TIMEOUT, read each time a client is built."""
    raw = os.environ.get("LIGHTFAST_HTTP_TIMEOUT")
    try:
        value = float(raw) if raw else DEFAULT_TIMEOUT_S
    except ValueError:
        raise SettingError(f"LIGHTFAST_HTTP_TIMEOUT must be a number of seconds, not {raw!r}") from None
    if not 0 < value <= 600:
        raise SettingError(f"LIGHTFAST_HTTP_TIMEOUT must be between 0 and 600 seconds, not {raw}")
    return value


@dataclass(frozen=True)
class Fault:
    retry: bool
    reason: str
    retry_after: float | None = None
    service: bool = True  # False: not a service failure (our bug); re-raised as is


def _retry_after(exc: BaseException) -> float | None:
    value = getattr(exc, "retry_after", None)
    if value is None:
        headers = getattr(exc, "headers", None) or getattr(getattr(exc, "response", None), "headers", None) or {}
        if hasattr(headers, "get"):
            value = headers.get("retry-after") or headers.get("Retry-After")
    try:
        seconds = float(value) if value is not None else None
    except (TypeError, ValueError):  # an HTTP-date: fall back to our own backoff
        return None
    return seconds if seconds is not None and seconds >= 0 else None


def _server_message(exc: BaseException) -> str | None:
    """The server's one-line explanation of a 4xx (Pinecone's `message`, Cohere's body `message`)."""
    body = getattr(exc, "body", None)
    text = None
    if isinstance(body, dict):
        err = body.get("error")
        text = body.get("message") or (err.get("message") if isinstance(err, dict) else None)
    if text is None and type(exc).__module__.startswith("pinecone"):
        text = getattr(exc, "message", None)
    if not isinstance(text, str) or not text.strip():
        return None
    line = " ".join(text.split())
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 3] + "..."


def classify(exc: BaseException) -> Fault:
    """Is this worth another attempt? Knows the Pinecone, Cohere and httpx error types."""
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int):
        if status == 429:
            return Fault(True, "HTTP 429 (rate limited)", _retry_after(exc))
        if status >= 500:
            return Fault(True, f"HTTP {status}")
        message = _server_message(exc)
        return Fault(False, f"HTTP {status}" + (f": {message}" if message else ""))
    name = type(exc).__name__
    module = type(exc).__module__ or ""
    lowered = str(exc).lower()
    if isinstance(exc, (TimeoutError, ConnectionError)) or any(w in name.lower() for w in _NETWORK_NAMES) \
            or any(w in lowered for w in _NETWORK_TEXT):
        return Fault(True, "timed out" if "timeout" in name.lower() or "timed out" in lowered else name)
    if module.split(".")[0] in _SERVICE_MODULES:
        message = _server_message(exc)  # e.g. the SDK's own validation, raised before sending
        return Fault(False, name + (f": {message}" if message else ""))
    return Fault(False, name, service=False)


@dataclass
class RetryPolicy:
    attempts: int = 6
    base_delay: float = 0.25
    max_delay: float = 8.0
    max_retry_after: float = 30.0
    deadline: float = 120.0  # seconds for all attempts and waits together
    #: A 429 without Retry-After waits this long (the service's quota window) instead of a
    #: short backoff; None: short backoff (services that send Retry-After, or interactive calls).
    rate_window: float | None = None
    #: Told about every wait of NOTICE_S or more (default: a warning on "lightfast.retry").
    notify: Callable[[str], None] | None = field(default=None, repr=False)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    #: Strings scrubbed from any message (the API keys of the client using this policy).
    secrets: tuple[str, ...] = field(default=(), repr=False)
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def with_secret(self, secret: str) -> "RetryPolicy":
        """A copy that also scrubs secret from its messages (the caller's policy is left alone)."""
        return replace(self, secrets=self.secrets + ((secret,) if secret else ()))

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter: uniform(0, min(cap, base * 2**(attempt-1))); a Retry-After is a floor, capped."""
        delay = self.rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_retry_after))
        return delay

    def call(self, operation: str, namespace: str | None, fn: Callable[[], T]) -> T:
        """fn() with retries, within attempts and the deadline."""
        return self.call_timed(operation, namespace, lambda _timeout: fn(), None)

    def call_timed(self, operation: str, namespace: str | None, fn: Callable[[float], T],
                   timeout: float | None) -> T:
        """fn(t) with retries, where t is this attempt's timeout: at most timeout, and never
        more than what is left of the deadline. With timeout None, fn gets the time left."""
        started = self.clock()
        where = f"{operation} on namespace '{namespace}'" if namespace is not None else operation
        for attempt in range(1, self.attempts + 1):
            left = self.deadline - (self.clock() - started)
            if left < MIN_ATTEMPT_S:
                tries = f" after {attempt - 1} attempts" if attempt > 2 else ""
                raise BackendError(self._scrub(
                    f"{where} failed{tries}: out of time ({self.deadline:g} s deadline)"))
            try:
                return fn(min(timeout, left) if timeout is not None else left)
            except LightfastError:
                raise  # already a clear message (a limit, a validation)
            except Exception as exc:
                fault = classify(exc)
                if not fault.service:
                    raise
                delay, why = self.wait_for(attempt, fault) if fault.retry else (0.0, "")
                out_of_time = self.clock() - started + delay > self.deadline
                if not fault.retry or attempt == self.attempts or out_of_time:
                    tries = f" after {attempt} attempts" if attempt > 1 else ""
                    raise BackendError(self._scrub(f"{where} failed{tries}: {fault.reason}")) from None
                if delay >= NOTICE_S:
                    self._notify(f"{where}: {fault.reason}; waiting {delay:.0f} s {why}"
                                 f"(attempt {attempt} of {self.attempts})")
                self.sleep(delay)
        raise AssertionError("unreachable")

    def wait_for(self, attempt: int, fault: Fault) -> tuple[float, str]:
        """Seconds to wait before the next attempt, and why (for the notice)."""
        if fault.reason.startswith("HTTP 429") and fault.retry_after is None and self.rate_window:
            return self.rate_window + self.rng.uniform(0, 1), "for the service's per-minute rate window "
        if fault.retry_after is not None:
            return self.backoff(attempt, fault.retry_after), "as the service's Retry-After asks "
        return self.backoff(attempt, None), ""

    def _notify(self, message: str) -> None:
        (self.notify or _log_notice)(self._scrub(message))

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        return text
