"""``cql repl``: the interactive shell for debugging queries."""
