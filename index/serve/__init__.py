"""`cql serve`: the Confluence-compatible REST server (docs/architecture.md)."""
