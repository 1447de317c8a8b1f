"""``cql serve``: the Confluence-compatible REST server (docs/architecture.md).

Confluence clients (``atlassian-python-api``, AI agents calling ``/wiki/rest/api/search``,
CI jobs) talk to it unmodified. Every read goes through ``Engine.search`` with the caller
the request authenticated as, so what a policy or a scope hides is missing here exactly as
it is missing from a search. ``docs/serve.md`` describes the endpoints.
"""
