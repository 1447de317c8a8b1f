"""``python -m index.cli``: the same as the ``cql`` command."""

from index.cli.main import main

raise SystemExit(main())
