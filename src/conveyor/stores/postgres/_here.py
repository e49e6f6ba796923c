"""Blocking connections for the calling thread: the PostgreSQL store's ``enqueue_here``.

``queue.sync.enqueue`` from a thread with no event loop (a Flask or Django view) runs
its statement on the calling thread: through the portal's loop it woke two threads,
which cost more than the statement. :class:`BlockingConnections` lends autocommit
connections made as the event loops' pools make theirs (every statement prepared, the
column arrays dumped by :mod:`._arrays`), from a free list: no pool threads, no
checkout bookkeeping. At most ``pool_size`` are lent at once; beyond that the store
says it is busy and the enqueue goes through the event loop's pool instead.

They belong to one process: after a fork the child's store makes new ones (the
parent's connections are never used or closed there: closing one would end the
parent's session), and :meth:`~BlockingConnections.close` ends them all (the store
closes them with its pools).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from ._arrays import register as register_arrays
from ._url import Settings
from .schema import connect

Connection = psycopg.Connection[Any]


class BlockingConnections:
    """Blocking autocommit connections for calling threads, at most ``pool_size`` lent."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pid = os.getpid()
        self._idle: list[Connection] = []
        self._lent = 0
        self._lock = threading.Lock()
        self._closed = False

    @property
    def usable(self) -> bool:
        """True until closed, in the process that made them."""
        return not self._closed and self._pid == os.getpid()

    def take(self) -> Connection | None:
        """Lend an idle connection, or a new one; ``None`` while ``pool_size`` are lent.

        Raises :class:`~conveyor.errors.BackendUnavailableError` if it cannot connect.
        """
        with self._lock:
            if self._lent >= self._settings.pool_size:
                return None
            self._lent += 1
            if self._idle:
                return self._idle.pop()
        try:
            conn = connect(self._settings, prepare_threshold=0)
        except BaseException:
            with self._lock:
                self._lent -= 1
            raise
        register_arrays(conn.adapters)
        return conn

    def give_back(self, conn: Connection) -> None:
        """Keep ``conn`` for the next statement if it is fine and the lot is open; else close it."""
        fine = conn.pgconn.transaction_status == TransactionStatus.IDLE
        with self._lock:
            self._lent -= 1
            if fine and not self._closed:
                self._idle.append(conn)
                return
        self._close([conn])

    def drop_idle(self) -> None:
        """Close the idle connections: after a failure, as a restarted server broke them all."""
        with self._lock:
            idle, self._idle = self._idle, []
        self._close(idle)

    def close(self) -> None:
        """Close the idle connections; those lent are closed as they come back."""
        with self._lock:
            self._closed = True
        self.drop_idle()

    def _close(self, conns: list[Connection]) -> None:
        if self._pid != os.getpid():
            return  # the parent's sessions: closing them here would end them there
        for conn in conns:
            conn.close()
