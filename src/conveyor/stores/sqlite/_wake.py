"""Wake-ups between processes that share one SQLite file: a Unix datagram socket each.

A process whose watcher waits for other processes' commits binds a socket (a
:class:`Doorbell`) in the folder ``<file>-wake`` beside the database; a process that
commits sends one byte to every socket there but its own (:class:`Ringer`). The watcher
then reads ``PRAGMA data_version`` at once instead of at its next poll, and polls far
less often while idle. Best effort: where a socket can not be made (no ``AF_UNIX``, a
path too long for one, a folder without write permission) the watcher polls as before,
and a lost datagram costs latency only, never a job.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import time

_MAX_PATH = 100
"""Bytes of a socket path that every platform accepts (Linux allows 107)."""
LIST_EVERY = 0.25
"""Seconds a :class:`Ringer` trusts its listing of an unchanged folder.

A ringer also lists the folder again whenever its modification time moved (a doorbell
came or went); this bounds the wait of one bound within the same clock tick as the
last listing, which the time can not tell apart."""


def wake_folder(database: str) -> str:
    """Return the folder of the doorbells of the processes watching ``database``."""
    return database + "-wake"


class Doorbell:
    """The receiving socket of one watcher; :meth:`bind` makes one, or None where it can't."""

    def __init__(self, sock: socket.socket, path: str) -> None:
        self._socket = sock
        self.path = path

    @classmethod
    def bind(cls, folder: str) -> Doorbell | None:
        """Bind a new doorbell in ``folder`` (created if needed); None where that fails."""
        family = getattr(socket, "AF_UNIX", None)
        if family is None:
            return None
        path = os.path.join(folder, f"{os.getpid()}-{secrets.token_hex(4)}")
        if len(os.fsencode(path)) > _MAX_PATH:
            return None
        sock = socket.socket(family, socket.SOCK_DGRAM)
        for _attempt in range(2):
            try:
                os.makedirs(folder, exist_ok=True)
                sock.bind(path)
                return cls(sock, path)
            except FileNotFoundError:
                continue  # the last doorbell's process removed the folder meanwhile
            except OSError:
                break
        sock.close()
        return None

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a ring; True if one came (all are taken)."""
        self._socket.settimeout(timeout)
        try:
            self._socket.recv(64)
        except OSError:  # TimeoutError among them
            return False
        self._socket.setblocking(False)
        with contextlib.suppress(OSError):
            while self._socket.recv(64):
                pass
        return True

    def close(self) -> None:
        """Close the socket and remove its file (and the folder, if it was the last)."""
        self._socket.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
            os.rmdir(os.path.dirname(self.path))


class Ringer:
    """Rings every doorbell in a folder but ``own`` ones; never blocks, never raises."""

    def __init__(self, folder: str) -> None:
        self._folder = folder
        self._socket: socket.socket | None = None
        self._doorbells: list[str] = []
        self._listed_at = -LIST_EVERY
        self._listed_stamp: int | None = None
        """The folder's modification time (ns) when it was last listed."""
        self.own: set[str] = set()
        """Paths of this process's doorbells that must not be rung (for their own commits)."""

    def ring(self) -> None:
        """Send one byte to each doorbell of the folder (listed again once it changed)."""
        now = time.monotonic()
        try:
            stamp: int | None = os.stat(self._folder).st_mtime_ns
        except OSError:
            stamp = None
        if stamp != self._listed_stamp or now - self._listed_at >= LIST_EVERY:
            self._listed_at, self._listed_stamp = now, stamp
            try:
                names = os.listdir(self._folder)
            except OSError:
                names = []
            found = (os.path.join(self._folder, name) for name in names)
            self._doorbells = [path for path in found if path not in self.own]
        if not self._doorbells:
            return
        self._send(self._doorbells)

    def ring_own(self) -> None:
        """Ring this process's own doorbells (a watcher that must stop looks up at once)."""
        self._send(list(self.own))

    def _send(self, doorbells: list[str]) -> None:
        sock = self._sender()
        if sock is None:
            return
        for path in doorbells:
            try:
                sock.sendto(b"!", path)
            except BlockingIOError:
                pass  # its queue is full: that watcher has rings to read already
            except ConnectionRefusedError:  # nobody bound: its process died
                with contextlib.suppress(OSError):
                    os.unlink(path)
                self._listed_at = -LIST_EVERY
            except OSError:
                self._listed_at = -LIST_EVERY  # gone, or not a socket: list again next time

    def close(self) -> None:
        """Close the sending socket."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _sender(self) -> socket.socket | None:
        if self._socket is None:
            family = getattr(socket, "AF_UNIX", None)
            if family is None:
                return None
            self._socket = socket.socket(family, socket.SOCK_DGRAM)
            self._socket.setblocking(False)
        return self._socket
