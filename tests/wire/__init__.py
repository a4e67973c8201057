"""Local HTTP servers that speak Pinecone's and Cohere's wire formats, for tests.

They let the official SDKs run unmodified against 127.0.0.1, and inject
faults (429 with Retry-After, 500, slow responses, dropped connections).
They implement only what the tests need, not the services.
"""
