"""`python tests/mcp_launch.py --config ...`: the real MCP server, with test-only instruments.

LF_TEST_COUNT_BATCHES=1   print "test: embedder batch N" on stderr for every document batch the
                          local embedder embeds, so a test can count batches against notifications.
LF_TEST_INGEST_OSERROR=1  the first ingest raises OSError (EIO), as a failing disk would; later ones run.
"""

from __future__ import annotations

import errno
import os
import sys

if os.environ.get("LF_TEST_COUNT_BATCHES"):
    from core.embeddings.local import LocalEmbedder

    _embed_batch = LocalEmbedder.embed_batch

    def counted(self, texts, kind):
        out = _embed_batch(self, texts, kind)
        if kind == "document":
            print(f"test: embedder batch {len(texts)}", file=sys.stderr, flush=True)
        return out

    LocalEmbedder.embed_batch = counted

if os.environ.get("LF_TEST_INGEST_OSERROR"):
    from core.service import Lightfast

    _ingest = Lightfast.ingest
    calls = []

    def failing_once(self, *args, **kw):
        calls.append(1)
        if len(calls) == 1:
            raise OSError(errno.EIO, "Input/output error", "/dev/injected")
        return _ingest(self, *args, **kw)

    Lightfast.ingest = failing_once

from mcp_server.__main__ import main  # noqa: E402

main(sys.argv[1:])
