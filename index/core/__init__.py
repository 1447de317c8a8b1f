"""The engine core: Whoosh storage, the compiler from CQL trees to document sets,
orderings and excerpts. It knows nothing of callers or policies.

Whoosh is imported here, once, before any module of the core imports it, because three of
its imports cost a one-shot ``cql search`` about a third of its start-up and serve it
nothing: ``whoosh.compat`` imports ``urlretrieve`` from ``urllib.request`` (which loads
http.client, email, ssl and socket) for a download helper the engine never calls;
``whoosh.reading`` takes ``cached_property`` from the package of that name, which imports
asyncio; and ``whoosh.query.terms`` imports ``variations`` from ``whoosh.lang.morph_en``,
whose import compiles hundreds of regular expressions, for a query type the engine never
builds. While Whoosh loads, those names resolve to stand-ins (functions that import the
real one when first called; the standard library's ``functools.cached_property``, which
caches the same way), and ``sys.modules`` is put back afterwards, so any other code
importing those modules gets the real ones. Nothing is stood in for a loaded module.
"""

from __future__ import annotations

import functools
import importlib
import sys
import types
from collections.abc import Callable
from typing import Any


def _on_first_call(module: str, name: str) -> Callable[..., Any]:
    """A function that imports ``module.name`` when called, and calls it."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    return call


def _import_whoosh() -> None:
    names: dict[str, dict[str, Any]] = {
        "urllib.request": {"urlretrieve": _on_first_call("urllib.request", "urlretrieve")},
        "whoosh.lang.morph_en": {
            "variations": _on_first_call("whoosh.lang.morph_en", "variations")},
        "cached_property": {"cached_property": functools.cached_property},
    }
    stand_ins: dict[str, types.ModuleType] = {}
    for module, attributes in names.items():
        if module not in sys.modules:
            stand_in = types.ModuleType(module)
            stand_in.__dict__.update(attributes)
            stand_ins[module] = stand_in
    sys.modules.update(stand_ins)
    try:
        import whoosh.index
        import whoosh.reading
        import whoosh.searching  # noqa: F401
    finally:
        for name, stood_in in stand_ins.items():
            if sys.modules.get(name) is stood_in:
                del sys.modules[name]


if "whoosh.reading" not in sys.modules:
    _import_whoosh()
