"""The database file as a store sees it: the connection threads and the watcher.

:class:`SQLiteFile` opens and closes the writer and reader threads (:mod:`._connection`),
runs operations on them, and watches for other processes' commits while a worker waits,
woken by their doorbells (:mod:`._wake`). The store's classes build on it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

from ...clock import Clock, SystemClock
from ...errors import BackendUnavailableError, ConfigurationError, IncompatibleStoreError
from ..channel import RemoteEvents
from ..signals import ChangeSignal
from ._connection import ConnectionThread, Operation, file_identity, retry_while_busy
from ._wake import Doorbell, Ringer, wake_folder
from .schema import check_and_migrate

T = TypeVar("T")
_SQLITE_HEADER = b"SQLite format 3\x00"
# How often the watcher polls data_version, by seconds since the last change it saw:
# fast while work flows, slower the longer the store stays idle (CPU vs. latency).
_WATCH_TIERS = ((0.1, 0.001), (1.0, 0.002), (10.0, 0.005))
_WATCH_SLOWEST = 0.010
_WATCH_WITH_DOORBELL = 0.05
"""The poll of a watcher with a doorbell: for commits of processes that do not ring it."""


def _watch_interval(idle: float) -> float:
    for within, interval in _WATCH_TIERS:
        if idle < within:
            return interval
    return _WATCH_SLOWEST


class SQLiteFile:
    """One SQLite file's writer and reader threads and its watcher; opened on first use."""

    def __init__(self, url: str, clock: Clock | None = None) -> None:
        self.url = url
        self.clock: Clock = clock or SystemClock()
        self.changes = ChangeSignal()
        self.remote_events = RemoteEvents()
        self.changes.on_first_waiter = threading.Event()
        self.path, self._durable_sync, self._busy_timeout = _parse_url(url)
        _check_path(self.path)
        self._lock = threading.Lock()
        self._writer: ConnectionThread | None = None
        self._reader: ConnectionThread | None = None
        self._watcher: threading.Thread | None = None
        self._closing = threading.Event()
        self._ringer = Ringer(wake_folder(self.path))

    # -- life cycle --------------------------------------------------------------------

    async def open(self) -> None:
        """Open (creating and migrating if needed) the database file."""
        with self._lock:
            if self._writer is not None:
                return
            self._closing.clear()
            self._writer = self._thread("writer", writer=True)
            self._reader = self._thread("reader", writer=False)
        try:
            await self._writer.run(_touch, durable=False)
        except BaseException:
            await self.close()
            raise
        self._watcher = threading.Thread(
            target=self._watch, name="conveyor-sqlite-watcher", daemon=True
        )
        self._watcher.start()

    async def close(self) -> None:
        """Stop the threads and close the connections."""
        with self._lock:
            writer, reader, watcher = self._writer, self._reader, self._watcher
            self._writer = self._reader = self._watcher = None
        self._closing.set()
        if self.changes.on_first_waiter is not None:
            self.changes.on_first_waiter.set()
        self._ringer.ring_own()
        for thread in (writer, reader):
            if thread is not None:
                thread.stop()
        if watcher is not None:
            watcher.join()
        self._ringer.close()

    def _thread(self, role: str, *, writer: bool) -> ConnectionThread:
        return ConnectionThread(
            f"conveyor-sqlite-{role}",
            self._connect_and_migrate if writer else self._connect,
            writer=writer,
            durable_sync=self._durable_sync,
            busy_timeout=self._busy_timeout,
            on_commit=self.changes.fire if writer else None,
            after_commit=self._ringer.ring if writer else None,
            path=self.path,
        )

    def _connect(self) -> sqlite3.Connection:
        # Switching a new file to WAL needs a lock that the busy handler does not wait
        # for; several processes opening one new file at once must retry here.
        def open_in_wal_mode() -> sqlite3.Connection:
            conn = sqlite3.connect(
                self.path,
                timeout=min(self._busy_timeout, 5.0),
                isolation_level=None,
                check_same_thread=False,
            )
            try:
                conn.execute("PRAGMA journal_mode = WAL")
            except BaseException:
                conn.close()
                raise
            return conn

        try:
            conn = retry_while_busy(open_in_wal_mode, self._busy_timeout, self.path)
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc):
                raise IncompatibleStoreError(f"{self.path} is not a SQLite database") from None
            raise BackendUnavailableError(f"cannot open {self.path}: {exc}") from None
        conn.execute(f"PRAGMA busy_timeout = {int(min(self._busy_timeout, 5.0) * 1000)}")
        return conn

    def _connect_and_migrate(self) -> sqlite3.Connection:
        conn = self._connect()
        try:
            check_and_migrate(conn, self.path)
        except BaseException:
            conn.close()
            raise
        return conn

    def _watch(self) -> None:
        """Fire ``changes`` when another connection commits, while anybody waits."""
        wake = self.changes.on_first_waiter
        assert wake is not None
        conn: sqlite3.Connection | None = None
        doorbell: Doorbell | None = None
        opened: object = None
        last, last_change = -1, time.monotonic()
        try:
            while not self._closing.is_set():
                if not self.changes.has_waiters:
                    wake.wait(0.5)
                    wake.clear()
                    continue
                if conn is not None and file_identity(self.path) != opened:
                    conn.close()  # the file was replaced: watch the new one
                    conn, last = None, -1
                if conn is None:
                    conn = sqlite3.connect(self.path, isolation_level=None)
                    opened = file_identity(self.path)
                    doorbell = self._new_doorbell(doorbell)
                version = conn.execute("PRAGMA data_version").fetchone()[0]
                if version != last:
                    # A first reading fires too: a commit made after the waiter looked
                    # at the store, but before this reading, is already in it.
                    self.changes.fire()
                    last, last_change = version, time.monotonic()
                if doorbell is not None:
                    doorbell.wait(_WATCH_WITH_DOORBELL)
                else:
                    self._closing.wait(_watch_interval(time.monotonic() - last_change))
        except sqlite3.Error:
            return
        finally:
            if conn is not None:
                conn.close()
            self._close_doorbell(doorbell)

    def _new_doorbell(self, old: Doorbell | None) -> Doorbell | None:
        """Close the watcher's doorbell, if any, and bind a new one (the folder may be new)."""
        self._close_doorbell(old)
        doorbell = Doorbell.bind(wake_folder(self.path))
        if doorbell is not None:
            self._ringer.own.add(doorbell.path)
        return doorbell

    def _close_doorbell(self, doorbell: Doorbell | None) -> None:
        if doorbell is not None:
            self._ringer.own.discard(doorbell.path)
            doorbell.close()

    async def _write(self, operation: Operation[T], *, durable: bool = True) -> T:
        if self._writer is None:
            await self.open()
        assert self._writer is not None
        return await self._writer.run(operation, durable=durable)

    async def _read(self, operation: Operation[T]) -> T:
        if self._reader is None:
            await self.open()
        assert self._reader is not None
        return await self._reader.run(operation)


def _touch(conn: sqlite3.Connection) -> None:
    """Do nothing: running this operation opens (and migrates) the file."""


def _parse_url(url: str) -> tuple[str, str, float]:
    parts = urlsplit(url)
    if parts.netloc:
        raise ConfigurationError(
            f"SQLite URL {url!r} has a host part; write sqlite:///relative.db or"
            " sqlite:////absolute/path.db"
        )
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path or path == ":memory:":
        raise ConfigurationError(
            f"SQLite URL {url!r} names no file; use memory:// for a store without a file"
        )
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(options) - {"durability", "busy_timeout"}
    if unknown:
        raise ConfigurationError(f"unknown SQLite URL option(s) {sorted(unknown)} in {url!r}")
    durability = options.get("durability", "full").lower()
    if durability not in ("full", "normal"):
        raise ConfigurationError(
            f"durability must be 'full' or 'normal' in {url!r}, got {durability!r}"
        )
    try:
        busy_timeout = float(options.get("busy_timeout", "60"))
    except ValueError:
        busy_timeout = -1.0
    if not busy_timeout > 0:
        raise ConfigurationError(f"busy_timeout must be a positive number of seconds in {url!r}")
    return path, durability.upper(), busy_timeout


def _check_path(path: str) -> None:
    """Fail early, and clearly, on a file conveyor could never use."""
    file = Path(path)
    folder = file.parent
    if not folder.is_dir():
        raise ConfigurationError(
            f"cannot use SQLite file {path}: the folder {folder} does not exist; create it first"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigurationError(
            f"cannot use SQLite file {path}: no write permission in the folder {folder}"
        )
    if not file.exists():
        return
    if file.is_dir():
        raise ConfigurationError(f"cannot use SQLite file {path}: it is a folder")
    if not os.access(file, os.R_OK | os.W_OK):
        raise ConfigurationError(f"cannot use SQLite file {path}: no read and write permission")
    with file.open("rb") as handle:
        header = handle.read(len(_SQLITE_HEADER))
    if header and header != _SQLITE_HEADER:
        raise IncompatibleStoreError(f"{path} is not a SQLite database")
