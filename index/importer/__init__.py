"""`cql import`: reads a Confluence site into the site format (docs/architecture.md).

The home of the importer; nothing is implemented here yet.
"""
