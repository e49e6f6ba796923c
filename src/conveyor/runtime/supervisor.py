"""The supervisor of ``conveyor worker --processes N``: N worker processes, kept running.

:class:`Supervisor` runs in the process the user started and runs no jobs itself. It
starts one worker process per *slot* (``python -m conveyor worker ...``, made by the
caller's ``command``, each in a process group of its own so that a ^C at the terminal
reaches the supervisor only) and keeps every slot filled:

- a process that recycles itself (after ``--max-jobs-per-process`` jobs, or past
  ``--max-memory-per-process``) is replaced at once: as soon as it says so, while it
  finishes its running jobs (and again, should it not have said so, when it exits
  with :data:`~.supervised.RECYCLE_EXIT`);
- a process that died otherwise (a crash, SIGKILL, any other exit) is restarted after
  a backoff (:class:`Backoff`: 0.5 s, doubling to 30 s; back to 0.5 s once a process of
  that slot ran 30 s);
- the first SIGTERM or SIGINT is passed on as SIGTERM to every process (each finishes
  its running jobs within its ``--grace``, then puts the rest back); once all exited,
  :meth:`Supervisor.run` returns 0. A second SIGTERM or SIGINT is passed on as it is:
  the processes put their running jobs back at once;
- SIGHUP reloads: a fresh process (which imports the code anew) starts in every slot
  at once, and each old process is stopped gracefully as soon as its replacement says
  it serves. There is no gap in capacity, and code that fails to start leaves the old
  processes serving (its replacements are retried with the backoff).

If a process exits before it served while none ever did (a typo in the target, a store
that refuses), the supervisor stops the others and returns that exit status, as one
worker process would have exited.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import selectors
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType

from .supervised import READY, RECYCLE_EXIT, RECYCLING, ChildSpec

log = logging.getLogger("conveyor.supervisor")

Command = Callable[[ChildSpec], list[str]]
"""Makes the argv of a worker process from what it is to be told."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long a slot waits before it restarts a process that died (not one recycled)."""

    first: float = 0.5
    """Seconds before the first restart."""
    cap: float = 30.0
    """The longest wait; each restart in a row waits twice the one before, up to this."""
    stable_after: float = 30.0
    """A process that ran this long before it died starts the doubling over."""

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` deaths in a row (1 or more)."""
        return min(self.first * 2.0 ** max(failures - 1, 0), self.cap)


@dataclass(eq=False)
class Child:
    """One worker process the supervisor started."""

    slot: int
    generation: int
    """The reload it belongs to (each SIGHUP starts a new generation)."""
    popen: subprocess.Popen[bytes]
    channel: socket.socket
    """The supervisor's end of the socket pair; the process writes ``ready`` to it."""
    started: float = field(default_factory=time.monotonic)
    ready: bool = False
    recycling: bool = False
    """It reached a limit and stops by itself: a fresh process takes its slot."""
    signals: int = 0
    """Signals the supervisor sent it (one or more: it is being stopped)."""

    @property
    def pid(self) -> int:
        """The process id."""
        return self.popen.pid

    def send(self, signum: int) -> None:
        """Send ``signum`` to the process (nothing happens if it exited already)."""
        self.signals += 1
        with contextlib.suppress(ProcessLookupError):
            self.popen.send_signal(signum)


class Supervisor:
    """Keeps ``processes`` worker processes running (see the module docstring).

    ``command`` makes a worker process's argv from the :class:`ChildSpec` it gets;
    ``max_jobs`` and ``max_memory_mb`` are its recycling limits.
    """

    def __init__(
        self,
        command: Command,
        processes: int,
        *,
        max_jobs: int | None = None,
        max_memory_mb: float | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        if processes < 1:
            raise ValueError("a supervisor needs one process or more")
        self.command = command
        self.processes = processes
        self.max_jobs = max_jobs
        self.max_memory_mb = max_memory_mb
        self.backoff = backoff or Backoff()
        self.children: list[Child] = []
        """The processes running now, old and new."""
        self.status = 0
        """What :meth:`run` returns."""
        self._generation = 0
        self._announced = -1
        self._booted = False
        self._stops = 0
        self._failures = [0] * processes
        self._restart_at = [0.0] * processes
        self._signals: collections.deque[int] = collections.deque()
        self._selector = selectors.DefaultSelector()

    # -- the loop ----------------------------------------------------------------------

    def run(self) -> int:
        """Start the processes and keep them running until stopped; return the exit status."""
        log.info("supervisor %s: starting %d worker process(es)", os.getpid(), self.processes)
        with self._signals_caught():
            while True:
                self._handle_signals()
                self._reap()
                if self._stops and not self.children:
                    break
                if self._stops == 0:
                    self._fill()
                    self._retire_replaced()
                self._wait(self._timeout())
        self._selector.close()
        log.info("supervisor %s: every worker process stopped", os.getpid())
        return self.status

    @contextlib.contextmanager
    def _signals_caught(self) -> Iterator[None]:
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        self._selector.register(wake_r, selectors.EVENT_READ, None)
        caught = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD)
        before = {signum: signal.getsignal(signum) for signum in caught}
        old_fd = signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)

        def note(signum: int, frame: FrameType | None) -> None:
            if signum != signal.SIGCHLD:  # SIGCHLD only wakes the loop up
                self._signals.append(signum)

        try:
            for signum in caught:
                signal.signal(signum, note)
            yield
        finally:
            signal.set_wakeup_fd(old_fd)
            for signum, handler in before.items():
                signal.signal(signum, handler)
            self._selector.unregister(wake_r)
            wake_r.close()
            wake_w.close()

    def _timeout(self) -> float:
        """Seconds until a slot's restart is due (at most 1: a safety net)."""
        waits = [
            self._restart_at[slot] - time.monotonic()
            for slot in range(self.processes)
            if self._stops == 0 and not self._filled(slot)
        ]
        return min([1.0, *waits]) if waits else 1.0

    def _wait(self, timeout: float) -> None:
        for key, _ in self._selector.select(max(timeout, 0.0)):
            sock: socket.socket = key.fileobj  # type: ignore[assignment]
            child: Child | None = key.data
            try:
                data = sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if child is None:
                continue  # the signal wake-up: the signals are in self._signals
            if not data:
                self._selector.unregister(sock)  # its exit is reaped next
            else:
                self._heard(child, data)

    def _heard(self, child: Child, data: bytes) -> None:
        """Take in what a process said on its channel (``ready``, ``recycling``)."""
        if READY in data and not child.ready:
            child.ready = True
            self._booted = True
            self._announce()
        if RECYCLING in data and not child.recycling:
            child.recycling = True
            self._restart_at[child.slot] = time.monotonic()
            log.info("worker process %d recycles itself: starting another", child.pid)

    # -- signals -----------------------------------------------------------------------

    def _handle_signals(self) -> None:
        while self._signals:
            signum = self._signals.popleft()
            if signum == signal.SIGHUP:
                self._reload()
            else:
                self._stop(signum)

    def _stop(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self._stops == 0:
            log.info("%s received: stopping %d worker process(es) gracefully", name,
                     len(self.children))  # fmt: skip
            self._stop_all()
            return
        self._stops += 1
        log.warning("%s received again: passing it on (running jobs go back now)", name)
        for child in self.children:
            child.send(signum)

    def _stop_all(self) -> None:
        """Send SIGTERM to every process not told to stop yet; start no more."""
        self._stops += 1
        for child in self.children:
            if child.signals == 0:
                child.send(signal.SIGTERM)

    def _reload(self) -> None:
        if self._stops:
            return
        self._generation += 1
        log.info(
            "SIGHUP received: reloading; %d fresh worker process(es) start, each old one"
            " stops gracefully once its replacement serves",
            self.processes,
        )
        self._restart_at = [time.monotonic()] * self.processes

    # -- processes ---------------------------------------------------------------------

    def _current(self, child: Child) -> bool:
        """Tell whether ``child`` holds its slot: of this generation, and not stopping."""
        return child.generation == self._generation and child.signals == 0 and not child.recycling

    def _filled(self, slot: int) -> bool:
        """Tell whether ``slot`` has a process that holds it."""
        return any(c.slot == slot and self._current(c) for c in self.children)

    def _fill(self) -> None:
        now = time.monotonic()
        for slot in range(self.processes):
            if not self._filled(slot) and now >= self._restart_at[slot]:
                self._spawn(slot)

    def _spawn(self, slot: int) -> None:
        ours, theirs = socket.socketpair()
        spec = ChildSpec(theirs.fileno(), os.getpid(), self.max_jobs, self.max_memory_mb)
        try:
            popen = subprocess.Popen(  # its own group: only the supervisor gets a ^C
                self.command(spec),
                stdin=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                process_group=0,
            )
        except OSError as exc:
            ours.close()
            self._failures[slot] += 1
            delay = self.backoff.delay(self._failures[slot])
            self._restart_at[slot] = time.monotonic() + delay
            log.error("cannot start a worker process (%s); trying again in %.1f s", exc, delay)
            return
        finally:
            theirs.close()
        ours.setblocking(False)
        child = Child(slot, self._generation, popen, ours)
        self._selector.register(ours, selectors.EVENT_READ, child)
        self.children.append(child)
        log.info("started worker process %d (slot %d)", child.pid, slot)

    def _retire_replaced(self) -> None:
        """Stop gracefully each process whose slot has a newer one that serves."""
        for new in self.children:
            if not (new.ready and self._current(new)):
                continue
            for old in self.children:
                if old.slot == new.slot and old is not new and old.signals == 0 \
                        and not old.recycling:  # fmt: skip
                    log.info("worker process %d replaced by %d: stopping it gracefully",
                             old.pid, new.pid)  # fmt: skip
                    old.send(signal.SIGTERM)

    def _announce(self) -> None:
        """Log once per generation that every slot has a process of it serving."""
        serving = [c for c in self.children if c.ready and self._current(c)]
        if len(serving) == self.processes and self._announced < self._generation:
            self._announced = self._generation
            pids = ", ".join(str(c.pid) for c in sorted(serving, key=lambda c: c.slot))
            log.info("supervisor %s: %d worker process(es) serving: %s", os.getpid(),
                     self.processes, pids)  # fmt: skip

    def _reap(self) -> None:
        for child in list(self.children):
            code = child.popen.poll()
            if code is None:
                continue
            self.children.remove(child)
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(child.channel)
            child.channel.close()
            self._exited(child, code)

    def _exited(self, child: Child, code: int) -> None:
        ran = time.monotonic() - child.started
        if child.signals or self._stops:
            log.info("worker process %d stopped (%s)", child.pid, _how(code))
        elif not child.ready and not self._booted:
            log.error("worker process %d %s before it served: stopping", child.pid, _how(code))
            self.status = code if code > 0 else 1
            self._stop_all()
        elif child.generation != self._generation or (child.recycling and code != RECYCLE_EXIT):
            log.warning("worker process %d %s, its replacement already started", child.pid,
                        _how(code))  # fmt: skip
        elif code == RECYCLE_EXIT:
            log.info("worker process %d recycled (%s)", child.pid, _how(code))
            self._failures[child.slot] = 0
            self._restart_at[child.slot] = time.monotonic()  # if it did not say so first
        else:
            self._restart_later(child, code, ran)

    def _restart_later(self, child: Child, code: int, ran: float) -> None:
        slot = child.slot
        if ran >= self.backoff.stable_after:
            self._failures[slot] = 0
        self._failures[slot] += 1
        delay = self.backoff.delay(self._failures[slot])
        self._restart_at[slot] = time.monotonic() + delay
        log.warning(
            "worker process %d %s after %.1f s; another starts in %.1f s",
            child.pid,
            _how(code),
            ran,
            delay,
        )


def _how(code: int) -> str:
    """Say how a process ended, from its exit status."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"
