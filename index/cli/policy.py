"""``cql policy``: inspect and change an index's data security policies, read its event log.

The store, the decisions and the events already exist (``index.security.policy``,
``index.security.events``,
``index.security.enforcement``); this module is only the shell front end, and it goes through
``engine.policy_layer().change(...)`` like any other caller, so a change made here is
enforced by every engine on the index from its next search and its events land in the same
log a long-running process writes to.

Exit codes (the convention of every ``cql`` command, ``index.cli.conventions``): 0 done,
1 the request was refused (unknown policy id, a policy that breaks a rule or a limit, a
corrupt store or log), 2 the command line or the environment is wrong (a usage error, a
missing index).

Nothing here imports Whoosh or the engine at module level: ``cql --help`` must stay fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from index.cli.conventions import usage_error
from index.errors import EngineError

EVENTS_HELP = """\
Write the index's policy event log (events.jsonl, kept with the index) to standard output as
JSON Lines, oldest first. By default each line is the log entry exactly as stored:
{"seq": N, "app_id": "<recipient app>", "event": {<CloudEvents 1.0 event, unchanged>}}.
"seq" grows by one per event over the log's whole life, so a reader that remembers the last
seq it processed resumes with --since SEQ (only entries with a greater seq are written).
With --wire each line is the bare CloudEvent, exactly what the app receives (the wire event
does not name its recipient: combine with --app to get one app's stream); --since still
selects by seq, and the last seq written is reported on standard error as "last seq: N".
"""

UPDATE_HELP = """\
Change a policy. Coverage: --spaces A,B replaces the spaces of a CONTAINER policy (an empty
value, --spaces '', leaves it covering nothing); --workspace asks for WORKSPACE coverage,
which only a WORKSPACE policy already has (the coverage level cannot change once set).
App access rule: --mode allowlist|blocklist and/or --apps a,b replace the rule's mode and
app list (a missing part is kept from the current rule; --mode allowlist --apps '' is
"block all eligible apps"); --no-app-access removes the rule. The other rules (export,
public links, anonymous access) are kept. Prints what changed and the events it generated.
"""


# --- argument helpers ----------------------------------------------------------------------


def _csv(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``; ``""`` -> ``[]`` (an explicitly empty list)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _count(minimum: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _open_engine(args: argparse.Namespace, *, changing: bool) -> Any:
    from index.cli.fixture import fixture_index
    from index.cli.options import open_engine
    from index.engine import Engine

    if args.index:
        return open_engine(args)
    path = fixture_index()
    if changing:
        # The default index is a shared cache keyed by the fixture files; a change made here
        # stays until the cache is deleted, which would surprise a later `cql search`.
        print(f"note: changing the bundled fixture index in {path} (delete that directory "
              "to start over)", file=sys.stderr)
    return Engine.open(path)


# --- describing policies -------------------------------------------------------------------


def _coverage_text(policy: Any) -> str:
    if policy.coverage.level == "WORKSPACE":
        return "WORKSPACE"
    spaces = ",".join(policy.coverage.spaces)
    return f"CONTAINER {spaces}" if spaces else "CONTAINER (no spaces)"


def _app_access_text(policy: Any) -> str:
    rule = policy.rules.app_access
    if rule is None:
        return "-"
    if rule.blocks_all:
        return "block all (allowlist, empty)"
    return f"{rule.mode} {','.join(rule.apps)}"


def _other_rules(policy: Any) -> str:
    rules = policy.rules
    on = [name for name in ("export", "public_links", "anonymous_access") if getattr(rules, name)]
    return ",".join(on) or "-"


def _policy_json(policy: Any) -> dict[str, Any] | None:
    if policy is None:
        return None
    return policy.model_dump(mode="json", exclude_none=True)  # type: ignore[no-any-return]


def _effects(engine: Any, policy: Any) -> dict[str, Any]:
    """Whom this policy blocks right now, on its own (other policies may block more)."""
    from index.security.policy import covered_spaces, policy_blocks_app

    store = engine.policy_layer().store
    spaces = sorted(covered_spaces(policy, engine.spaces))
    blocks = {app.app_id: spaces for app in store.apps
              if spaces and policy_blocks_app(policy, app.app_id, store.apps)}
    closed = spaces if policy.active and policy.rules.anonymous_access else []
    never = [app.app_id for app in store.apps if not app.eligible_for_blocking]
    return {"covered_spaces": spaces, "blocks": blocks, "anonymous_closed": closed,
            "never_blocked": never}


def _n(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _table(rows: Sequence[tuple[str, ...]], args: argparse.Namespace) -> str:
    from index.display import table_text, terminal_width

    return table_text(rows[0], rows[1:], color=getattr(args, "color_out", False),
                      width=terminal_width(sys.stdout)).rstrip("\n")


# --- list / show ---------------------------------------------------------------------------


def _warn(layer: Any, policy_id: str | None = None) -> None:
    """Policies naming apps not installed or spaces not in the index (they still apply)."""
    for line in layer.warnings(policy_id):
        print(f"warning: {line}", file=sys.stderr)


def run_list(args: argparse.Namespace) -> int:
    engine = _open_engine(args, changing=False)
    store = engine.policy_layer().store
    _warn(engine.policy_layer())
    policies = store.list()
    if args.json:
        print(json.dumps({"version": store.version,
                          "policies": [_policy_json(p) for p in policies]},
                         ensure_ascii=False, indent=2))
        return 0
    if not policies:
        print(f"no policies (store version {store.version})")
        return 0
    rows = [("id", "active", "coverage", "app access", "other rules", "name")]
    for p in policies:
        rows.append((p.id, "yes" if p.active else "no", _coverage_text(p), _app_access_text(p),
                     _other_rules(p), p.name))
    print(_table(rows, args))
    print(f"\n{len(policies)} policies, store version {store.version}; "
          f"{len(store.apps)} installed apps")
    return 0


def run_show(args: argparse.Namespace) -> int:
    engine = _open_engine(args, changing=False)
    policy = engine.policy_layer().store.get(args.policy_id)
    _warn(engine.policy_layer(), policy.id)
    effects = _effects(engine, policy)
    if args.json:
        print(json.dumps({"policy": _policy_json(policy), **effects}, ensure_ascii=False,
                         indent=2))
        return 0
    lines = [f"policy {policy.id}: {policy.name}"]
    if policy.description:
        lines.append(f"  description:  {policy.description}")
    lines += [
        f"  active:       {'yes' if policy.active else 'no'}",
        f"  coverage:     {_coverage_text(policy)}",
        f"  app access:   {_app_access_text(policy)}",
        f"  other rules:  {_other_rules(policy)}",
    ]
    if not policy.active:
        lines.append("  enforced:     nothing (inactive)")
    else:
        blocked = [f"{app} ({','.join(spaces)})" for app, spaces in effects["blocks"].items()]
        lines.append(f"  blocks apps:  {'; '.join(blocked) or 'none of the installed apps'}")
        if effects["anonymous_closed"]:
            lines.append(f"  anonymous:    refused in {','.join(effects['anonymous_closed'])}")
    if effects["never_blocked"] and policy.rules.app_access is not None:
        lines.append(f"  never blocked (not eligible): {','.join(effects['never_blocked'])}")
    print("\n".join(lines))
    return 0


# --- changes -------------------------------------------------------------------------------

_PAST = {"activate": "activated", "deactivate": "deactivated", "update": "updated",
         "delete": "deleted"}


def _update_fields(args: argparse.Namespace, current: Any) -> dict[str, Any]:
    """The ``PolicyStore.update`` arguments the command line asks for."""
    fields: dict[str, Any] = {}
    if args.name is not None:
        fields["name"] = args.name
    if args.workspace:
        fields["coverage"] = {"level": "WORKSPACE"}
    elif args.spaces is not None:
        fields["coverage"] = {"level": "CONTAINER", "spaces": _csv(args.spaces)}
    if args.no_app_access or args.mode is not None or args.apps is not None:
        # ``update(rules=...)`` replaces every rule: start from the current ones so that
        # changing the app list never switches export or anonymous access off by accident.
        rules = current.rules.model_dump(mode="json", exclude_none=True)
        if args.no_app_access:
            rules.pop("app_access", None)
        else:
            old = current.rules.app_access
            mode = args.mode or (old.mode if old is not None else None)
            if mode is None:
                raise EngineError(
                    "invalid_policy",
                    f"policy {current.id!r} has no app access rule yet: give --mode "
                    "allowlist or --mode blocklist with --apps",
                )
            apps = _csv(args.apps) if args.apps is not None else (
                list(old.apps) if old is not None else [])
            rules["app_access"] = {"mode": mode, "apps": apps}
        fields["rules"] = rules
    return fields


def _diff(before: Any, after: Any) -> list[str]:
    """Human-readable ``what: old -> new`` lines between two versions of one policy."""
    if before is None or after is None:
        return []
    pairs = [
        ("name", before.name, after.name),
        ("active", str(before.active).lower(), str(after.active).lower()),
        ("coverage", _coverage_text(before), _coverage_text(after)),
        ("app access", _app_access_text(before), _app_access_text(after)),
        ("other rules", _other_rules(before), _other_rules(after)),
    ]
    return [f"  {what}: {old} -> {new}" for what, old, new in pairs if old != new]


def _find(policies: Iterable[Any], policy_id: str) -> Any:
    return next((p for p in policies if p.id == policy_id), None)


def run_change(args: argparse.Namespace) -> int:
    from index.security.events import EventSettings

    action = args.policy_command
    engine = _open_engine(args, changing=True)
    layer = engine.policy_layer()
    fields: dict[str, Any] = {}
    if action == "update":
        fields = _update_fields(args, layer.store.get(args.policy_id))
        if not fields:
            raise usage_error("nothing to update: give --name, --spaces, --workspace, "
                              "--mode, --apps or --no-app-access")
    defaults = EventSettings()
    layer.settings = defaults.model_copy(update={
        "cap": defaults.cap if args.cap is None else args.cap,
        "chunk_size": defaults.chunk_size if args.chunk_size is None else args.chunk_size,
    })
    delivered: list[Any] = []
    unsubscribe = layer.bus.subscribe(delivered.append)
    try:
        change = layer.change(action, args.policy_id, **fields)
    finally:
        unsubscribe()
    for done in layer.recovered:  # completed by opening the index or by this change
        print(f"note: completed an interrupted policy change ({done.change.trigger} "
              f"{done.change.policy_id}, store version {done.change.version}): "
              f"{done.written} of its {done.total} events written now", file=sys.stderr)
    records = list(layer.last_records)
    before = _find(change.before, args.policy_id)
    after = _find(change.after, args.policy_id)
    if args.json:
        print(json.dumps({
            "action": action, "policy_id": args.policy_id, "trigger": change.trigger,
            "changed": change.changed, "version": change.version,
            "before": _policy_json(before), "after": _policy_json(after),
            "events": len(delivered),
            "records": [{**r.model_dump(mode="json"), "truncated": r.truncated}
                        for r in records],
        }, ensure_ascii=False, indent=2))
        return 0
    print(_change_report(action, change, before, after, delivered, records))
    return 0


def _change_report(action: str, change: Any, before: Any, after: Any,
                   delivered: list[Any], records: list[Any]) -> str:
    name = (after or before).name
    if not change.changed:
        state = {"activate": "already active", "deactivate": "already inactive"}.get(
            action, "unchanged by this update")
        return f"policy {change.policy_id} ({name}) is {state}: nothing changed, no events"
    lines = [f"{_PAST[action]} policy {change.policy_id} ({name}); store version "
             f"{change.version - 1} -> {change.version}"]
    lines += _diff(before, after)
    if not delivered:
        lines.append("0 events generated: no installed app lost access (no event is sent "
                     "when access is restored)")
        return "\n".join(lines)
    lines.append(f"{_n(len(delivered), 'event')} generated (logged to events.jsonl):")
    for r in records:
        lines.append(
            f"  {r.app_id}: lost {_n(len(r.spaces), 'space')} ({','.join(r.spaces)}); "
            f"{_n(r.container_events, 'container event')}, "
            f"{_n(r.object_events, 'objects event')}; objects affected {r.affected}, "
            f"delivered {r.delivered}, omitted {r.omitted} (cap {r.cap}, "
            f"{r.chunk_size} per event)")
    return "\n".join(lines)


# --- events --------------------------------------------------------------------------------


def run_events(args: argparse.Namespace) -> int:
    from index.security.enforcement import EVENT_LOG_FILE
    from index.security.events import EventLog

    engine = _open_engine(args, changing=False)
    log = EventLog(engine.index_dir / EVENT_LOG_FILE)
    out = sys.stdout
    last = None
    for entry in log.since(args.since):
        if args.app is not None and entry.app_id != args.app:
            continue
        out.write((entry.event.to_json() if args.wire else entry.to_json_line()) + "\n")
        last = entry.seq
    out.flush()
    if args.wire:
        print(f"last seq: {last if last is not None else args.since}", file=sys.stderr)
    return 0


# --- wiring --------------------------------------------------------------------------------


def _guarded(handler: Any) -> Any:
    """Refusals leave through ``cql``'s one convention (``index.cli.main``): one line on
    stderr (and ``{"error": ...}`` on stdout with ``--json``), exit 1; never a traceback."""
    return handler


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index", metavar="DIR",
                        help="index directory (default: the bundled fixture index)")
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON instead of text")
    tuning = argparse.ArgumentParser(add_help=False)
    tuning.add_argument("--cap", type=_count(0), metavar="N",
                        help="objects reported per app for this change (default 200000)")
    tuning.add_argument("--chunk-size", type=_count(1), metavar="N",
                        help="object ids per objects event (default 1000)")

    p = sub.add_parser(
        "policy", help="list, show and change data security policies; read policy events",
        description="Data security policies of an index: list and show them, change them "
        "(the change is enforced from the next search, no rebuild) and read the events "
        "changes generated for apps. Exit status: 0 done, 1 refused (unknown policy, "
        "invalid policy, missing index), 2 usage error.")
    actions = p.add_subparsers(dest="policy_command", metavar="ACTION", required=True)

    s = actions.add_parser("list", parents=[common, as_json], help="list the policies",
                           description="List every policy with its coverage and rules.")
    s.set_defaults(run=_guarded(run_list))

    s = actions.add_parser("show", parents=[common, as_json], help="show one policy",
                           description="Show one policy and whom it blocks now.")
    s.add_argument("policy_id", metavar="ID")
    s.set_defaults(run=_guarded(run_show))

    for action, text in (
        ("activate", "switch a policy on; apps that lose access get events"),
        ("deactivate", "switch a policy off; apps regain access (no events)"),
        ("delete", "delete a policy; apps regain access (no events)"),
    ):
        s = actions.add_parser(action, parents=[common, as_json, tuning], help=text,
                               description=text[0].upper() + text[1:] + ".")
        s.add_argument("policy_id", metavar="ID")
        s.set_defaults(run=_guarded(run_change))

    s = actions.add_parser("update", parents=[common, as_json, tuning],
                           help="change a policy's coverage, app access rule or name",
                           description=UPDATE_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("policy_id", metavar="ID")
    coverage = s.add_mutually_exclusive_group()
    coverage.add_argument("--spaces", metavar="A,B", help="space keys (CONTAINER coverage)")
    coverage.add_argument("--workspace", action="store_true", help="WORKSPACE coverage")
    rule = s.add_mutually_exclusive_group()
    rule.add_argument("--mode", choices=("allowlist", "blocklist"),
                      help="app access rule mode")
    rule.add_argument("--no-app-access", action="store_true",
                      help="remove the app access rule")
    s.add_argument("--apps", metavar="A,B", help="app ids of the allowlist or blocklist")
    s.add_argument("--name", metavar="NAME", help="new policy name")
    s.set_defaults(run=_guarded(_checked_update))

    s = actions.add_parser("events", parents=[common], help="write the policy event log "
                           "as JSON Lines", description=EVENTS_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--since", type=_count(0), default=0, metavar="SEQ",
                   help="only entries with a seq greater than SEQ (default 0: all)")
    s.add_argument("--app", metavar="APP_ID", help="only events for this app")
    s.add_argument("--wire", action="store_true",
                   help="bare CloudEvents (no seq, no recipient) instead of log entries")
    s.set_defaults(run=_guarded(run_events))


def _checked_update(args: argparse.Namespace) -> int:
    if args.no_app_access and args.apps is not None:
        raise usage_error("--apps cannot be combined with --no-app-access")
    return run_change(args)


__all__ = ["add_commands"]
