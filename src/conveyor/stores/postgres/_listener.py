"""The thread that LISTENs for the schema's events, from ``open()`` to ``close()``.

It owns one blocking connection: on start it connects, migrates (or checks) the schema
and calibrates the store's clock, which is when ``open()`` returns. Then it waits on the
connection's socket (and on a pipe that ``stop()`` writes to, so closing is immediate)
and hands every notification to ``on_message``. It recalibrates the clock now and then,
and when the server goes away it reconnects with growing pauses, calling
``on_reconnect`` each time it is back (events sent meanwhile were lost).
"""

from __future__ import annotations

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
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.on_message = on_message
        self.on_reconnect = on_reconnect
        self.ready: Future[None] = Future()
        """Done once the schema is checked and LISTEN runs, or with why it could not."""
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="conveyor-pg-listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the thread and close its connection (blocks briefly)."""
        self._stopping.set()
        os.write(self._wake_w, b"x")
        self._thread.join()
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
                conn.close()

    def _connect(self, *, first: bool) -> Connection:
        conn = connect(self.settings, **_KEEPALIVES)
        try:
            if first:
                check_and_migrate(conn, self.settings.schema, allowed=self.settings.migrate)
            self._calibrate(conn)
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.settings.channel)))
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

    def _listen(self, conn: Connection) -> None:
        pgconn = conn.pgconn
        with selectors.DefaultSelector() as selector:
            selector.register(conn.fileno(), selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            calibrate_at = time.monotonic() + CALIBRATE_EVERY
            while not self._stopping.is_set():
                selector.select(max(calibrate_at - time.monotonic(), 0.0))
                if self._stopping.is_set():
                    return
                pgconn.consume_input()
                while (notify := pgconn.notifies()) is not None:
                    assert pgconn.notify_handler is not None
                    pgconn.notify_handler(notify)
                if time.monotonic() >= calibrate_at:
                    self._calibrate(conn)
                    calibrate_at = time.monotonic() + CALIBRATE_EVERY
