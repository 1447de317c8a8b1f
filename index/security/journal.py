"""A policy change and its events as one durable transaction.

A change used to save the store first and append its events after, so a process killed in
between (or a disk that filled up) lost the events for good: the retry found the policy
"already active" and sent nothing. Here every change runs under one inter-process lock:

1. any change left pending by an earlier process is completed first (``recover``);
2. a **journal** is written (fsynced, atomically) naming the new store text, the change,
   the event log's last sequence number, a transaction id and the event time;
3. the store file is replaced with the new text;
4. the events are generated and appended to the event log; their ids derive from the
   transaction id and their time is the journal's, so generating them again gives the same
   events;
5. the journal is removed: the change is complete.

Recovery (the next change, or the next engine opening the index) finds the journal, writes
the store from it again (idempotent), counts the events already logged after the journal's
sequence number and appends the rest of the regenerated stream. So every kill point ends,
after recovery, with either no change (killed before the journal was complete) or the
change with all its events, each exactly once, sequence numbers contiguous. A failed write
(full disk) raises ``EngineError("io", ...)`` and leaves the journal for the next attempt.

Regenerated objects come from the index as it is at recovery: if the index changed between
the crash and the recovery, the events not yet written describe the index at recovery.
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

from index.errors import EngineError
from index.security.events import Delivery, EventBus, EventLog, EventSettings, PolicyEvents
from index.security.policy import PolicyChange, PolicyStore, fsync_dir, write_atomically

try:
    import fcntl
except ImportError:  # pragma: no cover - non-POSIX
    fcntl = None  # type: ignore[assignment]

JOURNAL_FILE = "policy-change.journal"
LOCK_FILE = "policy-change.lock"

#: Builds the events of a change with a fixed clock and id generator.
EventFactory = Callable[
    [PolicyChange, EventSettings, Callable[[], datetime], Callable[[], str]], PolicyEvents]

_THREAD_LOCKS: dict[str, threading.RLock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


@dataclass(frozen=True)
class Pending:
    """A change written to the journal and not yet known complete."""

    txn: str
    time: str
    base_seq: int
    store_text: str
    change: PolicyChange
    settings: EventSettings  # cap and chunk size: the events must come out the same again

    def to_text(self) -> str:
        return json.dumps({
            "txn": self.txn, "time": self.time, "base_seq": self.base_seq,
            "store_text": self.store_text, "change": self.change.model_dump(mode="json"),
            "settings": self.settings.model_dump(mode="json"),
        }, ensure_ascii=False)

    @classmethod
    def from_text(cls, text: str, where: Path) -> Pending:
        try:
            raw = json.loads(text)
            return cls(txn=str(uuid.UUID(raw["txn"])), time=raw["time"],
                       base_seq=int(raw["base_seq"]), store_text=raw["store_text"],
                       change=PolicyChange.model_validate(raw["change"]),
                       settings=EventSettings.model_validate(raw["settings"]))
        except (ValueError, KeyError, TypeError) as error:
            raise EngineError("invalid_store", f"{where}: unreadable policy change journal "
                              f"({type(error).__name__}); restore or remove it") from None

    def clock(self) -> datetime:
        return datetime.fromisoformat(self.time)

    def ids(self) -> Callable[[], str]:
        """Event ids derived from the transaction: the n-th event always gets the same id."""
        namespace = uuid.UUID(self.txn)
        counter = iter(range(1 << 62))
        return lambda: str(uuid.uuid5(namespace, str(next(counter))))


@dataclass
class Outcome:
    """What completing a pending change wrote."""

    change: PolicyChange
    events: PolicyEvents
    first_seq: int  # the first sequence number of the change's events (base_seq + 1)
    written: int  # events appended by this completion (fewer when a crash wrote some)
    total: int  # events of the change in all


class PolicyJournal:
    """The transaction protocol above, for one index directory."""

    def __init__(self, index_dir: Path, store: PolicyStore, log: EventLog,
                 events: EventFactory) -> None:
        self.path = Path(index_dir) / JOURNAL_FILE
        self.lock_path = Path(index_dir) / LOCK_FILE
        self.store = store
        self.log = log
        self.events = events

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise changes: across threads (a lock per directory) and processes (flock)."""
        key = str(self.lock_path.resolve())
        with _THREAD_LOCKS_GUARD:
            thread_lock = _THREAD_LOCKS.setdefault(key, threading.RLock())
        with thread_lock:
            if fcntl is None:  # pragma: no cover - non-POSIX
                yield
                return
            handle = _io(lambda: open(self.lock_path, "a+b"), "open the policy change lock")
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
                yield
            finally:
                handle.close()  # closing releases the flock

    def pending(self) -> Pending | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return Pending.from_text(text, self.path)

    def recover(self) -> Outcome | None:
        """Complete a change an earlier process left pending (call under ``locked``)."""
        pending = self.pending()
        if pending is None:
            return None
        _io(lambda: self.store.install(pending.store_text), "write the policy store")
        return self._finish(pending)

    def run(self, mutate: Callable[[], PolicyChange], now: datetime,
            settings: EventSettings) -> tuple[
            PolicyChange, Outcome | None]:
        """Run one store mutation as a transaction (call under ``locked``, after
        ``recover``). Returns the change and, when it changed anything, what was written."""
        written: list[Pending] = []

        def journal(change: PolicyChange, store_text: str) -> None:
            pending = Pending(txn=str(uuid.uuid4()), time=now.isoformat(),
                              base_seq=self.log.last_seq, store_text=store_text, change=change,
                              settings=settings)
            _io(lambda: write_atomically(self.path, pending.to_text()),
                "journal the policy change (nothing was changed)")
            written.append(pending)

        self.store.before_write = journal
        try:
            change = mutate()
        except EngineError:
            raise
        except OSError as error:
            if written:  # journalled: the next attempt completes it
                raise _pending_error(error) from None
            raise EngineError("io", f"cannot write the policy store: {_why(error)}; "
                              "nothing was changed") from None
        finally:
            self.store.before_write = None
        if not written:
            return change, None
        return change, self._finish(written[0])

    def _finish(self, pending: Pending) -> Outcome:
        events = self.events(pending.change, pending.settings, pending.clock, pending.ids())
        done = max(0, self.log.last_seq - pending.base_seq)
        try:
            stream = iter(events)
            skipped = sum(1 for _ in islice(stream, done))
            written = self.log.extend(stream)
            _remove(self.path)
        except OSError as error:
            raise _pending_error(error) from None
        return Outcome(change=pending.change, events=events, first_seq=pending.base_seq + 1,
                       written=written, total=skipped + written)

    def publish(self, outcome: Outcome, bus: EventBus) -> int:
        """Hand the change's logged events to in-process subscribers, read back from the
        log (so subscribers see exactly what was logged, in flat memory)."""
        count = 0
        last = outcome.first_seq + outcome.total - 1
        for entry in self.log.since(outcome.first_seq - 1):
            if entry.seq > last:
                break
            bus.publish(Delivery(app_id=entry.app_id, event=entry.event))
            count += 1
        return count


def _why(error: OSError) -> str:
    return error.strerror or str(error)


def _pending_error(error: OSError) -> EngineError:
    return EngineError("io", f"the policy change is journalled but its events could not all "
                       f"be written ({_why(error)}); the next policy change or engine opening "
                       "this index completes it")


def _io(action: Callable[[], Any], what: str) -> Any:
    try:
        return action()
    except OSError as error:
        raise EngineError("io", f"cannot {what}: {_why(error)}") from None


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    fsync_dir(path.parent)
