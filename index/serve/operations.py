"""The operations the server implements, with the scopes each needs (``operations.tsv``).

The table is data: one row per HTTP operation, copied for v2 from Atlassian's operation
list (granular scope, whether the app access rule is exempt, Connect scope) and completed
with the classic scopes that cover the same access. An app token passes an operation's
scope check when it holds any granular or classic scope of the row, or (Connect apps) the
row's Connect scope or a stronger one.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

TABLE = Path(__file__).with_name("operations.tsv")

#: Connect scopes are ordered: each implies the ones before it (READ < WRITE < DELETE < ADMIN).
CONNECT_LEVELS = ("READ", "WRITE", "DELETE", "ADMIN")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    granular: tuple[str, ...]
    classic: tuple[str, ...]
    exempt: bool
    connect_scope: str

    @property
    def scopes(self) -> tuple[str, ...]:
        """Every OAuth scope that grants this operation (granular first)."""
        return self.granular + self.classic

    def allows(self, kind: str, held: frozenset[str]) -> bool:
        """True when an app of ``kind`` holding ``held`` may call this operation."""
        if kind == "connect":
            need = CONNECT_LEVELS.index(self.connect_scope)
            return any(s in CONNECT_LEVELS and CONNECT_LEVELS.index(s) >= need for s in held)
        return bool(held.intersection(self.scopes))


@cache
def operations() -> dict[str, Operation]:
    """Every operation by ``operationId``."""
    with TABLE.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    ops = {}
    for row in rows:
        op = Operation(
            method=row["method"], path=row["path"], operation_id=row["operation_id"],
            granular=tuple(row["granular_scopes"].split()),
            classic=tuple(row["classic_scopes"].split()),
            exempt=row["exempt"] == "True", connect_scope=row["connect_scope"])
        if op.operation_id in ops:
            raise ValueError(f"{TABLE.name}: operationId {op.operation_id} is listed twice")
        ops[op.operation_id] = op
    return ops


def operation(operation_id: str) -> Operation:
    return operations()[operation_id]
