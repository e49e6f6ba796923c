"""One SQLite connection owned by one thread, fed with operations from any event loop.

The writer groups every operation waiting in its queue into one transaction (group
commit): fifty concurrent enqueues cost one ``fsync``, not fifty. Each operation runs
inside a savepoint, so one that fails is rolled back alone and reports its own error.
A thread with no event loop (the blocking ``queue.sync`` methods) may instead run its
operation on the connection itself when the thread is not running a batch
(:meth:`ConnectionThread.run_here`): it blocks anyway, and four thread wake-ups less
make a blocking enqueue several times faster. When the connection is busy it goes to
the thread like any other, so that concurrent callers still share commits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ...errors import BackendUnavailableError, ConveyorError, IncompatibleStoreError

log = logging.getLogger("conveyor.store.sqlite")

T = TypeVar("T")
Operation = Callable[[sqlite3.Connection], T]
Opener = Callable[[], sqlite3.Connection]

_MAX_BATCH = 512
_STOP = object()


class Busy:
    """The type of :data:`BUSY`."""


BUSY = Busy()
"""What :meth:`ConnectionThread.run_here` returns when the connection is in use."""


class Joinable(ABC):
    """An operation that its neighbours of the same kind in one batch join.

    The writer runs neighbouring operations that :meth:`joins` accepts with one
    :meth:`run_joined` call: their statements go to SQLite together (fifty concurrent
    single-job enqueues cost one ``executemany``, fifty settles one ``UPDATE``).
    Each still runs alone (``__call__``) when a batch is retried one savepoint each.
    """

    __slots__ = ()

    @abstractmethod
    def __call__(self, conn: sqlite3.Connection) -> Any:
        """Run alone; return this operation's answer."""

    @abstractmethod
    def joins(self, other: Joinable) -> bool:
        """Say whether ``other``, the next operation of the batch, may run with this one."""

    @classmethod
    @abstractmethod
    def run_joined(cls, operations: Sequence[Any], conn: sqlite3.Connection) -> list[Any]:
        """Run ``operations`` (of this class, each joining the one before) together.

        Return one answer for each, in order, as its ``__call__`` would have.
        """


@dataclass(frozen=True, slots=True)
class BulkInsert(Joinable):
    """An operation that inserts ``rows`` with one statement.

    Neighbouring ``BulkInsert`` operations of one batch with the same ``sql`` run as
    one ``executemany``. ``then(conn, rows)``, if given, runs after it in the same
    transaction (the same for every ``BulkInsert`` of one ``sql``).
    """

    sql: str
    rows: Sequence[Sequence[object]]
    then: Callable[[sqlite3.Connection, Sequence[Sequence[object]]], None] | None = None

    def __call__(self, conn: sqlite3.Connection) -> None:
        """Insert the rows."""
        conn.executemany(self.sql, self.rows)
        if self.then is not None:
            self.then(conn, self.rows)

    def joins(self, other: Joinable) -> bool:
        """Say whether ``other`` inserts with the same statement."""
        return isinstance(other, BulkInsert) and other.sql == self.sql

    @classmethod
    def run_joined(cls, operations: Sequence[Any], conn: sqlite3.Connection) -> list[Any]:
        """Insert the rows of all ``operations`` with one ``executemany``."""
        first: BulkInsert = operations[0]
        rows = [row for insert in operations for row in insert.rows]
        BulkInsert(first.sql, rows, first.then)(conn)
        return [None] * len(operations)


@dataclass(slots=True)
class _Work:
    operation: Operation[Any]
    durable: bool


@dataclass(slots=True)
class _Request(_Work):
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


class ConnectionThread:
    """Runs operations on its own connection, in its own thread, in batches."""

    def __init__(
        self,
        name: str,
        opener: Opener,
        *,
        writer: bool,
        durable_sync: str,
        busy_timeout: float,
        on_commit: Callable[[], None] | None = None,
        after_commit: Callable[[], None] | None = None,
        path: str | None = None,
    ) -> None:
        self._opener = opener
        self._path = path
        """The file, if any, whose deletion or replacement makes the thread open it again."""
        self._opened_identity: object = None
        self._writer = writer
        self._durable_sync = durable_sync
        self._busy_timeout = busy_timeout
        self._on_commit = on_commit
        self._after_commit = after_commit
        """Called once the callers of a batch that changed something have their results."""
        self._changed = False
        self._requests: queue.SimpleQueue[_Request | object] = queue.SimpleQueue()
        self._conn: sqlite3.Connection | None = None
        self._in_use = threading.Lock()
        """Held while the connection runs a batch, by the thread or by ``run_here``."""
        self._stopped = False
        self._synchronous = ""
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    async def run(self, operation: Operation[T], *, durable: bool = False) -> T:
        """Run ``operation(connection)`` in the thread and return its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._requests.put(_Request(operation, durable, loop, future))
        return await future

    def run_here(self, operation: Operation[T], *, durable: bool = False) -> T | Busy:
        """Run ``operation(connection)`` on the calling thread, blocking, and return its result.

        Returns :data:`BUSY`, having done nothing, if the connection is in use: then
        :meth:`run` it. For threads with no event loop: one that has a loop must use
        :meth:`run`.
        """
        if not self._in_use.acquire(blocking=False):
            return BUSY
        try:
            if self._stopped:
                raise BackendUnavailableError("the SQLite store was closed")
            [result] = self._execute([_Work(operation, durable)])
            changed, self._changed = self._changed, False
        finally:
            self._in_use.release()
        if changed and self._after_commit is not None:
            self._after_commit()
        if isinstance(result, BaseException):
            raise result
        return result  # type: ignore[no-any-return]

    def stop(self) -> None:
        """Finish the queued operations, close the connection and end the thread."""
        self._requests.put(_STOP)
        self._thread.join()

    def _serve(self) -> None:
        while True:
            first = self._requests.get()
            if first is _STOP:
                break
            batch = [first]
            stop_after = False
            while len(batch) < _MAX_BATCH:
                try:
                    item = self._requests.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop_after = True
                    break
                batch.append(item)
            requests: list[_Request] = [r for r in batch if isinstance(r, _Request)]
            with self._in_use:
                results = self._execute(requests)
                changed, self._changed = self._changed, False
            _deliver(requests, results)
            if changed and self._after_commit is not None:
                self._after_commit()
            if stop_after:
                break
        with self._in_use:
            self._stopped = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _execute(self, requests: Sequence[_Work]) -> list[Any]:
        try:
            conn = self._connection()
            if not self._writer:
                return [_attempt(r.operation, conn) for r in requests]
            return self._transaction(conn, requests)
        except ConveyorError as exc:
            return [exc] * len(requests)
        except sqlite3.Error as exc:
            error = BackendUnavailableError(f"SQLite failed: {exc}")
            return [error] * len(requests)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None and self._file_replaced():
            # Writing on would go to a file nobody else can open: jobs would vanish.
            log.warning("%s was deleted or replaced: opening it again", self._path)
            self._conn.close()
            self._conn, self._synchronous = None, ""
        if self._conn is None:
            self._conn = self._opener()
            self._opened_identity = None if self._path is None else file_identity(self._path)
        return self._conn

    def _file_replaced(self) -> bool:
        """Tell whether the path no longer names the file the connection has open."""
        return self._path is not None and file_identity(self._path) != self._opened_identity

    def _transaction(self, conn: sqlite3.Connection, requests: Sequence[_Work]) -> list[Any]:
        sync = self._durable_sync if any(r.durable for r in requests) else "NORMAL"
        if sync != self._synchronous:
            conn.execute(f"PRAGMA synchronous = {sync}")
            self._synchronous = sync
        changes_before = conn.total_changes
        results = self._commit_batch(conn, requests, isolated=False)
        if results is None:
            results = self._commit_batch(conn, requests, isolated=True) or []
        # Only real writes wake waiters: an empty claim must not wake its own worker.
        if conn.total_changes != changes_before:
            self._changed = True
            if self._on_commit is not None:
                self._on_commit()
        return results

    def _commit_batch(
        self, conn: sqlite3.Connection, requests: Sequence[_Work], *, isolated: bool
    ) -> list[Any] | None:
        """Run ``requests`` in one transaction and commit.

        Optimistically without savepoints; if an operation fails, roll back and return
        ``None`` so that the caller runs the batch again with one savepoint each.
        """
        self._retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"))
        try:
            if isolated:
                results = [_in_savepoint(r.operation, conn) for r in requests]
            else:
                results = []
                for group in _grouped(requests):
                    answers = _attempt(group, conn)
                    if isinstance(answers, BaseException):
                        conn.execute("ROLLBACK")
                        return [answers] if len(requests) == 1 else None
                    results.extend(answers)
            self._retry_busy(lambda: conn.execute("COMMIT"))
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return results

    def _retry_busy(self, statement: Callable[[], object]) -> None:
        retry_while_busy(statement, self._busy_timeout, "the SQLite database")


def retry_while_busy(statement: Callable[[], T], timeout: float, what: str) -> T:
    """Run ``statement``, waiting out other processes' locks for up to ``timeout`` s."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            return statement()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            if time.monotonic() >= deadline:
                raise BackendUnavailableError(
                    f"{what} stayed locked by another process for {timeout:g} s"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


@dataclass(frozen=True, slots=True)
class _Group:
    """One operation, or neighbouring :class:`Joinable` ones run together."""

    operations: list[Operation[Any]]

    def __call__(self, conn: sqlite3.Connection) -> list[Any]:
        """Run the group; return one answer per operation."""
        first = self.operations[0]
        if len(self.operations) == 1:
            return [first(conn)]
        assert isinstance(first, Joinable)
        return type(first).run_joined(self.operations, conn)


def _grouped(requests: Sequence[_Work]) -> list[_Group]:
    groups: list[_Group] = []
    for request in requests:
        operation = request.operation
        last = groups[-1].operations[-1] if groups else None
        if isinstance(last, Joinable) and isinstance(operation, Joinable) and last.joins(operation):
            groups[-1].operations.append(operation)
        else:
            groups.append(_Group([operation]))
    return groups


def _attempt(operation: Operation[Any], conn: sqlite3.Connection) -> Any:
    try:
        return operation(conn)
    except Exception as exc:
        return _as_error(exc)


def _as_error(exc: Exception) -> Exception:
    """Turn a driver error into the ConveyorError a caller should see."""
    if not isinstance(exc, sqlite3.Error):
        return exc
    if "not a database" in str(exc):
        return IncompatibleStoreError(f"the file is not a SQLite database ({exc})")
    return BackendUnavailableError(f"SQLite failed: {exc}")


def file_identity(path: str) -> object:
    """Return what tells the file at ``path`` from another put there later (or ``None``)."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return (stat.st_dev, stat.st_ino)


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """Tell whether ``exc`` means another connection holds a lock we need."""
    return "locked" in str(exc) or "busy" in str(exc)


def _in_savepoint(operation: Operation[Any], conn: sqlite3.Connection) -> Any:
    conn.execute("SAVEPOINT op")
    result = _attempt(operation, conn)
    if isinstance(result, BaseException):
        conn.execute("ROLLBACK TO op")
    conn.execute("RELEASE op")
    return result


def _deliver(requests: list[_Request], results: list[Any]) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]]
    by_loop = defaultdict(list)
    for request, result in zip(requests, results, strict=True):
        by_loop[request.loop].append((request.future, result))
    for loop, pairs in by_loop.items():
        if not loop.is_closed():
            try:
                loop.call_soon_threadsafe(_resolve_all, pairs)
            except RuntimeError:
                log.debug("event loop closed before a SQLite result was delivered")


def _resolve_all(pairs: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, result in pairs:
        if future.done():
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
