"""A log handler for the command line's processes that writes its lines in batches.

A busy worker logs two lines a job (its start and its outcome, at INFO); one write and
flush of stderr per line was a tenth to a fifth of a worker process's time on a drain
of short jobs (bench/README.md, "logging"). :class:`BatchedStreamHandler` formats
each record at once but writes what waits in one call: records of WARNING and above at
once (with every line before them), the others at most ``delay`` seconds late, written
by a thread of its own, or as soon as ``limit`` characters wait. It writes what is
left when it is closed, which :mod:`logging` does at exit; a process killed outright
(SIGKILL) loses at most its last ``delay`` seconds of INFO lines.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TextIO


class BatchedStreamHandler(logging.Handler):
    """Writes formatted records to ``stream`` in batches (see the module docstring)."""

    def __init__(self, stream: TextIO, *, delay: float = 0.1, limit: int = 65536) -> None:
        super().__init__()
        self.stream = stream
        """Where the lines go (the command line's: ``sys.stderr``)."""
        self.delay = delay
        """How late a line below WARNING may be written, in seconds."""
        self.limit = limit
        """How many characters may wait before they are written at once."""
        self._lines: list[str] = []
        self._size = 0
        self._waiting = threading.Event()
        self._stopping = threading.Event()
        self._writer_pid: int | None = None
        if hasattr(os, "register_at_fork"):  # a forked child writes only its own lines
            os.register_at_fork(after_in_child=self._lines.clear)

    def emit(self, record: logging.LogRecord) -> None:
        """Format ``record`` and keep it, or write it with what waits (called locked)."""
        try:
            line = self.format(record) + "\n"
        except Exception:
            self.handleError(record)
            return
        self._lines.append(line)
        self._size += len(line)
        if record.levelno >= logging.WARNING or self._size >= self.limit or self._stopping.is_set():
            self._write()
        elif len(self._lines) == 1:
            self._start_writer()
            self._waiting.set()

    def flush(self) -> None:
        """Write every line that waits."""
        self.acquire()
        try:
            self._write()
        finally:
            self.release()

    def close(self) -> None:
        """Write what waits, stop the writing thread, and close the handler."""
        self._stopping.set()
        self._waiting.set()
        self.flush()
        super().close()

    def _write(self) -> None:
        if not self._lines:
            return
        text = "".join(self._lines)
        self._lines.clear()
        self._size = 0
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the stream was closed (or its pipe): nothing to do
            pass

    def _start_writer(self) -> None:
        if self._writer_pid == os.getpid():
            return
        self._writer_pid = os.getpid()  # a forked child starts a thread of its own
        threading.Thread(target=self._write_late, name="conveyor-log", daemon=True).start()

    def _write_late(self) -> None:
        while not self._stopping.is_set():
            self._waiting.wait()
            if self._stopping.wait(self.delay):
                return
            self.acquire()
            try:
                self._waiting.clear()
                self._write()
            finally:
                self.release()
