"""The REPL's config file, as pgcli and litecli have one.

``$CQL_REPL_CONFIG``, else ``$XDG_CONFIG_HOME/cql-search/config.toml`` (by default
``~/.config/cql-search/config.toml``). Every key is optional; a missing file is an empty
one. A key this module does not know, or a value of the wrong kind, is an error naming the
file and the key (a typo must not be silently ignored)::

    pager = true                # page output taller than the screen ($PAGER, else less)
    pager_command = "less -RFX" # overrides $PAGER
    table_style = "simple"      # simple | ascii | rounded | minimal
    key_bindings = "emacs"      # emacs | vi
    multiline = false           # Enter inserts a newline; Esc-Enter runs the query
    index = "/path/to/index"    # default for --index
    limit = 10                  # default for --limit

    [caller]                    # default caller when no caller flag is given
    as_app = "app-wordcount"    # or as_user = "...", or anonymous = true
    scopes = "search:confluence"
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.cli.conventions import usage_error

CONFIG_ENV = "CQL_REPL_CONFIG"
TABLE_STYLES = ("simple", "ascii", "rounded", "minimal")
KEY_BINDINGS = ("emacs", "vi")
CALLER_KEYS = {"as_user": str, "as_app": str, "scopes": str, "anonymous": bool}


@dataclass
class ReplConfig:
    pager: bool = True
    pager_command: str | None = None
    table_style: str = "simple"
    key_bindings: str = "emacs"
    multiline: bool = False
    index: str | None = None
    limit: int | None = None
    caller: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def config_path() -> Path:
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "cql-search" / "config.toml"


_KINDS: dict[str, type | tuple[type, ...]] = {
    "pager": bool, "pager_command": str, "table_style": str, "key_bindings": str,
    "multiline": bool, "index": str, "limit": int, "caller": dict}


def load_config(path: Path | None = None) -> ReplConfig:
    """The config at ``path`` (default :func:`config_path`); raises a usage error (exit 2)
    that names the file and the key for anything it cannot use."""
    path = path or config_path()
    if not path.exists():
        return ReplConfig()
    import tomllib  # only when there is a file: the prompt comes sooner without one

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise usage_error(f"config file {path}: {err}") from None

    def bad(key: str, want: str) -> Exception:
        return usage_error(f"config file {path}: {key} must be {want}")

    for key, value in data.items():
        kind = _KINDS.get(key)
        if kind is None:
            raise usage_error(f"config file {path}: unknown key {key!r} (known: "
                              f"{', '.join(sorted(_KINDS))})")
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise bad(key, f"a {getattr(kind, '__name__', kind)}")
    if data.get("table_style", "simple") not in TABLE_STYLES:
        raise bad("table_style", " or ".join(TABLE_STYLES))
    if data.get("key_bindings", "emacs") not in KEY_BINDINGS:
        raise bad("key_bindings", " or ".join(KEY_BINDINGS))
    caller = data.get("caller", {})
    for key, value in caller.items():
        if key not in CALLER_KEYS:
            raise usage_error(f"config file {path}: unknown key caller.{key} (known: "
                              f"{', '.join(CALLER_KEYS)})")
        if not isinstance(value, CALLER_KEYS[key]):
            raise bad(f"caller.{key}", f"a {CALLER_KEYS[key].__name__}")
    return ReplConfig(path=path, caller=dict(caller),
                      **{k: v for k, v in data.items() if k != "caller"})


def options_max_limit() -> int:
    from index.cli.search import MAX_LIMIT

    return MAX_LIMIT


def apply_defaults(args: Any, config: ReplConfig) -> None:
    """Config values fill in what the command line left unset (flags always win). The
    caller goes through the same checks as the flags (``index.cli.options``)."""
    import argparse

    from index.cli import options

    if args.index is None and config.index:
        args.index = config.index
    if args.limit is None:
        if config.limit is not None and not 1 <= config.limit <= options_max_limit():
            raise usage_error(f"config file {config.path}: limit must be between 1 and "
                              f"{options_max_limit()}")
        args.limit = config.limit or 10
    flags_name_a_caller = args.as_user is not None or args.as_app is not None or args.anonymous
    if config.caller and not flags_name_a_caller:
        try:
            for key in ("as_user", "as_app"):
                if key in config.caller:
                    setattr(args, key, options.identifier(config.caller[key]))
            if "scopes" in config.caller:
                args.scopes = options.scopes(config.caller["scopes"])
            args.anonymous = bool(config.caller.get("anonymous", False))
        except argparse.ArgumentTypeError as err:
            raise usage_error(f"config file {config.path}: caller: {err}") from None
