"""`cql import`: reads a Confluence site into the site format (docs/import.md).

One idea per module, in the order data flows:

- ``http``: the httpx client (retries, ``Retry-After``, backoff, cursor paging);
- ``remote`` / ``dump``: what a live site or a directory of saved responses holds;
- ``mapping``: REST JSON onto site-format lines, or a reported skip;
- ``state``: the SQLite checkpoint that makes runs incremental and resumable;
- ``sinks``: the outputs (``--out`` site directory, ``--index`` live index);
- ``sync``: one run (list, fetch what changed, store, delete what went);
- ``cli``: ``cql import``.
"""
