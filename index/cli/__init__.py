"""The ``cql`` command: one module per subcommand, the entry point in ``main``."""
