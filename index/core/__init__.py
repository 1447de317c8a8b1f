"""The engine core: Whoosh storage, the compiler from CQL trees to document sets, orderings, excerpts."""
