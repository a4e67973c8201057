"""Lightfast's terminal UI: browse namespaces, search, ingest, stats and cost."""
