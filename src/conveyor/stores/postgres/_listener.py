"""The thread that LISTENs for the schema's events, from ``open()`` to ``close()``.

It owns one blocking connection: on start it connects, migrates (or checks) the schema
and calibrates the store's clock, which is when ``open()`` returns. Then it waits on the
connection's socket (and on a pipe that ``stop()`` and ``want()`` write to, so both act at once)
and hands every notification to ``on_message``. It recalibrates the clock now and then,
and when the server goes away (or the store asks it to, :meth:`reconnect`) it reconnects
with growing pauses, calling ``on_reconnect`` each time it is back (events sent
meanwhile were lost).

It LISTENs only while ``wanted()`` (somebody waits for a change or follows other
processes' events), and for :data:`GRACE` seconds after: every NOTIFY delivered costs
the server a wake-up of this connection's backend and this process a wake-up of this
thread, which a process that only enqueues, or a worker busy draining a backlog,
does not need. :meth:`want` asks for listening to start; once LISTEN runs,
``on_reconnect`` is called, so that whoever waits looks again at what it might have
missed before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

import psycopg
from psycopg import sql

from ...clock import ServerClock
from ...errors import ConveyorError
from ._url import Settings
from .schema import Connection, check_and_migrate, connect

log = logging.getLogger("conveyor.stores.postgres")

CALIBRATE_EVERY = 60.0
GRACE = 5.0
"""Seconds the thread keeps listening after the last reason to."""
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10}
_PAUSES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class Listener:
    """Listens on ``settings.channel`` in a thread of its own; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: ServerClock | None,
        on_message: Callable[[str], None],
        on_reconnect: Callable[[], None],
        wanted: Callable[[], bool] = lambda: True,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.on_message = on_message
        self.on_reconnect = on_reconnect
        self.wanted = wanted
        self.ready: Future[None] = Future()
        """Done once the schema is checked and the thread serves, or with why it could not."""
        self.listening = False
        """True while LISTEN is in effect (set once it ran, cleared before UNLISTEN)."""
        self._listened = threading.Condition()
        self._pipe_open = True
        self._pipe_lock = threading.Lock()
        self._stopping = threading.Event()
        self._reconnecting = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._thread = threading.Thread(target=self._run, name="conveyor-pg-listener", daemon=True)
        self._thread.start()

    def want(self, wait: float = 0.0) -> None:
        """Ask the thread to LISTEN (if it does not); wait up to ``wait`` s until it does."""
        if self.listening:
            return
        self._wake()
        if wait > 0 and threading.current_thread() is not self._thread:
            with self._listened:
                self._listened.wait_for(
                    lambda: self.listening or self._stopping.is_set(), timeout=wait
                )

    def _wake(self) -> None:
        with self._pipe_lock:
            if not self._pipe_open:
                return
            with contextlib.suppress(BlockingIOError):  # full: a wake-up is pending anyway
                os.write(self._wake_w, b"x")

    def reconnect(self) -> None:
        """Close the connection and make a new one (where the URL leads now)."""
        self._reconnecting.set()
        self._wake()

    def stop(self) -> None:
        """End the thread and close its connection (blocks briefly)."""
        self._stopping.set()
        self._wake()
        self._thread.join()
        with self._pipe_lock:
            self._pipe_open = False
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _run(self) -> None:
        try:
            self._serve()
        finally:
            if not self.ready.done():  # stopped before it ever connected
                self.ready.set_exception(
                    self.settings.unavailable(RuntimeError("closed"), "was closed while opening")
                )

    def _serve(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                conn = self._connect(first=not self.ready.done())
            except ConveyorError as exc:
                if not self.ready.done():
                    self.ready.set_exception(exc)
                    return
                pause = _PAUSES[min(failures, len(_PAUSES) - 1)]
                failures += 1
                log.warning("PostgreSQL listener: %s; retrying in %g s", exc, pause)
                self._stopping.wait(pause)
                continue
            if self.ready.done():
                log.info("PostgreSQL listener reconnected to %s", self.settings.masked)
                self.on_reconnect()
            else:
                self.ready.set_result(None)
            failures = 0
            try:
                self._listen(conn)
            except psycopg.Error as exc:
                log.warning("PostgreSQL listener lost its connection: %s", exc)
            finally:
                self._set_listening(False)
                conn.close()

    def _connect(self, *, first: bool) -> Connection:
        conn = connect(self.settings, **_KEEPALIVES)
        try:
            if first:
                check_and_migrate(conn, self.settings.schema, allowed=self.settings.migrate)
            self._calibrate(conn)
        except psycopg.Error as exc:
            conn.close()
            raise self.settings.unavailable(exc) from None
        except BaseException:
            conn.close()
            raise
        conn.add_notify_handler(lambda notify: self.on_message(notify.payload))
        return conn

    def _calibrate(self, conn: Connection) -> None:
        if self.clock is None:
            return
        sent = time.time()
        row = conn.execute("SELECT extract(epoch FROM clock_timestamp())::float8").fetchone()
        received = time.time()
        assert row is not None
        self.clock.calibrate(float(row[0]), sent, received)

    def _set_listening(self, listening: bool) -> None:
        with self._listened:
            self.listening = listening
            self._listened.notify_all()

    def _steer(self, conn: Connection, unwanted_since: float | None) -> float | None:
        """LISTEN if wanted, UNLISTEN after GRACE unwanted; return since when unwanted."""
        channel = sql.Identifier(self.settings.channel)
        if self.wanted():
            if not self.listening:
                conn.execute(sql.SQL("LISTEN {}").format(channel))
                self._set_listening(True)
                self.on_reconnect()  # what was sent before LISTEN ran went unheard
            return None
        if not self.listening:
            return None
        now = time.monotonic()
        if unwanted_since is None or now - unwanted_since < GRACE:
            return now if unwanted_since is None else unwanted_since
        # Cleared first: a waiter that comes now sees it and asks again; one that came
        # before is seen here, by wanted() once more.
        self._set_listening(False)
        if self.wanted():
            self._set_listening(True)
        else:
            conn.execute(sql.SQL("UNLISTEN {}").format(channel))
        return None

    def _drain_pipe(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_r, 512):
                pass

    def _listen(self, conn: Connection) -> None:
        pgconn = conn.pgconn
        unwanted_since: float | None = None
        with selectors.DefaultSelector() as selector:
            selector.register(conn.fileno(), selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            calibrate_at = time.monotonic() + CALIBRATE_EVERY
            while not self._stopping.is_set():
                unwanted_since = self._steer(conn, unwanted_since)
                wake_at = calibrate_at if unwanted_since is None else unwanted_since + GRACE
                selector.select(max(min(wake_at, calibrate_at) - time.monotonic(), 0.0))
                if self._stopping.is_set():
                    return
                if self._reconnecting.is_set():
                    self._reconnecting.clear()
                    log.info("PostgreSQL listener reconnects to %s", self.settings.masked)
                    return
                self._drain_pipe()
                pgconn.consume_input()
                while (notify := pgconn.notifies()) is not None:
                    assert pgconn.notify_handler is not None
                    pgconn.notify_handler(notify)
                if time.monotonic() >= calibrate_at:
                    self._calibrate(conn)
                    calibrate_at = time.monotonic() + CALIBRATE_EVERY
