"""`lightfast mcp --watch`: the watcher in a thread beside the server."""

from __future__ import annotations

import logging

log = logging.getLogger("lightfast.mcp")


def start_watcher(get_service):
    from core.watch import Watcher

    def report(state, _report) -> None:
        log.info("watch %s: %s", state.status, state.last_error or state.last_summary)

    return Watcher(get_service(), on_batch=report).start()
