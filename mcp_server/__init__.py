"""Lightfast's MCP server: search and ingest as tools for AI coding assistants."""
