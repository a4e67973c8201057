"""`lightfast mcp --watch`: the service's watcher in a thread beside the server."""

from __future__ import annotations

import logging

log = logging.getLogger("lightfast.mcp")


def start_watcher(service):
    def report(state, _report) -> None:
        log.info("watch %s: %s", state.status, state.last_error or state.last_summary)

    return service.watcher(on_batch=report).start()
