"""The engine core: Whoosh storage, the compiler from CQL trees to document sets,
orderings and excerpts. It knows nothing of callers or policies."""
