"""Local HTTP servers that speak Pinecone's and Cohere's wire formats, for tests.

They let the official SDKs run unmodified against 127.0.0.1, and inject
faults at run time (429 with Retry-After, 500, slow responses, dropped
connections; scripted or at a rate). They implement only what the tests
need, not the services. Point the backends at them with the constructors'
endpoint arguments, or with the factory's environment variables:

    with PineconeServer(api_key=k) as pc, CohereServer(api_key=c) as co:
        PineconeBackend(k, host=pc.url)            # LIGHTFAST_PINECONE_HOST=pc.url
        CohereEmbedder(c, base_url=co.url)         # LIGHTFAST_COHERE_BASE_URL=co.url
        CohereReranker(c, base_url=co.url)
"""

from __future__ import annotations

import contextlib
from typing import Iterator


@contextlib.contextmanager
def serve(pinecone_key: str = "pc-test-key", cohere_key: str = "co-test-key") -> Iterator[tuple]:
    """Both servers, started and stopped together: `with serve() as (pinecone, cohere):`."""
    from tests.wire.cohere_server import CohereServer
    from tests.wire.pinecone_server import PineconeServer

    with PineconeServer(api_key=pinecone_key) as pc, CohereServer(api_key=cohere_key) as co:
        yield pc, co
