"""One retry policy for network services: exponential backoff with full jitter.

Retried: 429 (honouring Retry-After, capped), 5xx, timeouts and dropped
connections. Anything else (400, 401, 404...) fails at once. After the last
attempt the error names the operation and namespace and a short reason, never
a header, a body or a key.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from core.errors import BackendError

T = TypeVar("T")


@dataclass(frozen=True)
class Fault:
    retry: bool
    reason: str
    retry_after: float | None = None


def classify(exc: BaseException) -> Fault:
    """Is this worth another attempt? Knows the Pinecone, Cohere and httpx error types."""
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    retry_after = getattr(exc, "retry_after", None)
    headers = getattr(exc, "headers", None) or {}
    if retry_after is None and hasattr(headers, "get"):
        raw = headers.get("retry-after") or headers.get("Retry-After")
        try:
            retry_after = float(raw) if raw is not None else None
        except ValueError:
            retry_after = None
    if isinstance(status, int):
        if status == 429:
            return Fault(True, "HTTP 429 (rate limited)", retry_after)
        if status >= 500:
            return Fault(True, f"HTTP {status}")
        return Fault(False, f"HTTP {status}")
    name = type(exc).__name__.lower()
    text = str(exc).lower()
    if any(word in name for word in ("timeout", "connection", "remoteprotocol", "readerror", "network")) or \
            any(word in text for word in ("timed out", "connection reset", "disconnected", "connection refused",
                                          "server disconnected", "remote end closed")):
        return Fault(True, type(exc).__name__)
    return Fault(False, type(exc).__name__)


@dataclass
class RetryPolicy:
    attempts: int = 6
    base_delay: float = 0.25
    max_delay: float = 8.0
    max_retry_after: float = 30.0
    deadline: float = 120.0  # seconds for all attempts together
    sleep: Callable[[float], None] = time.sleep

    def call(self, operation: str, namespace: str | None, fn: Callable[[], T]) -> T:
        started = time.monotonic()
        where = f"{operation} on namespace '{namespace}'" if namespace else operation
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except Exception as exc:  # classified below; non-retryable ones re-raise as BackendError
                fault = classify(exc)
                out_of_time = time.monotonic() - started > self.deadline
                if not fault.retry or attempt == self.attempts or out_of_time:
                    tries = f" after {attempt} attempts" if attempt > 1 else ""
                    raise BackendError(f"{where} failed{tries}: {fault.reason}") from None
                delay = random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))
                if fault.retry_after is not None:
                    delay = max(delay, min(fault.retry_after, self.max_retry_after))
                self.sleep(delay)
        raise AssertionError("unreachable")
