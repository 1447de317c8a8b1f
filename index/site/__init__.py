"""The site loader: the site directory format, its pydantic models, storage-format bodies."""
