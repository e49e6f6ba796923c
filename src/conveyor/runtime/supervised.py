"""A worker process's side of ``conveyor worker --processes N``: limits, readiness, parent.

The supervisor (:mod:`.supervisor`) starts each worker process with the hidden option
``--supervised`` (a :class:`ChildSpec`: the file descriptor of its end of a socket pair,
the supervisor's pid, and the limits after which the process recycles itself). The
worker process then, through :class:`Supervised`:

- dies with its supervisor: on Linux the kernel sends it SIGTERM when the supervisor
  dies (``prctl(PR_SET_PDEATHSIG)``), everywhere the end of the socket pair reads EOF;
  either way it stops gracefully, as on its first SIGTERM;
- says ``ready`` on the socket once it serves (the supervisor's cue, during a reload,
  to stop the process it replaces);
- counts the attempts it ran and reads its resident memory after each
  (:class:`Recycler`, a :class:`~conveyor.definitions.hooks.Hook`); at a limit it says
  ``recycling`` on the socket (the supervisor starts a fresh process in its place at
  once), stops gracefully by itself and exits with :data:`RECYCLE_EXIT`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass

from ..definitions.hooks import Hook, Hooks
from ..job import Job, JobStatus

log = logging.getLogger("conveyor.worker")

RECYCLE_EXIT = 75
"""The exit status of a worker process that recycled itself (``EX_TEMPFAIL``)."""
READY = b"ready\n"
"""What a worker process writes to its supervisor once it serves."""
RECYCLING = b"recycling\n"
"""What a worker process writes to its supervisor when it reached a limit (it stops now)."""
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """What a supervisor tells a worker process it starts (the hidden ``--supervised``)."""

    fd: int
    """The worker's end of the socket pair shared with the supervisor."""
    parent: int
    """The supervisor's pid."""
    max_jobs: int | None = None
    """Recycle after this many attempts (None: never)."""
    max_memory_mb: float | None = None
    """Recycle once the resident memory reaches this many MB after an attempt (None: never)."""

    def to_arg(self) -> str:
        """Write the spec as the value of ``--supervised`` (``fd=5,parent=7,jobs=100``)."""
        parts = [f"fd={self.fd}", f"parent={self.parent}"]
        if self.max_jobs is not None:
            parts.append(f"jobs={self.max_jobs}")
        if self.max_memory_mb is not None:
            parts.append(f"mb={self.max_memory_mb:g}")
        return ",".join(parts)

    @classmethod
    def parse(cls, text: str) -> ChildSpec:
        """Read what :meth:`to_arg` wrote; ValueError if it is not that."""
        fields = dict(part.partition("=")[::2] for part in text.split(",") if part)
        unknown = set(fields) - {"fd", "parent", "jobs", "mb"}
        if unknown or "fd" not in fields or "parent" not in fields:
            raise ValueError(f"not a supervisor's spec: {text!r}")
        jobs, mb = fields.get("jobs"), fields.get("mb")
        try:
            return cls(
                fd=int(fields["fd"]),
                parent=int(fields["parent"]),
                max_jobs=None if jobs is None else int(jobs),
                max_memory_mb=None if mb is None else float(mb),
            )
        except ValueError:
            raise ValueError(f"not a supervisor's spec: {text!r}") from None


def rss_mb() -> float:
    """Read this process's resident memory in MB (its peak where ``/proc`` is missing)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            pages = int(statm.read().split()[1])
        return float(pages * os.sysconf("SC_PAGE_SIZE") / 2**20)
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB; bytes on macOS
        return peak / (2**20 if sys.platform == "darwin" else 2**10)


def die_with_parent(parent: int) -> bool:
    """Ask for SIGTERM when the process that started this one dies (Linux).

    False if ``parent`` is no longer this process's parent (it died already).
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    return os.getppid() == parent


class Recycler(Hook):
    """Calls ``recycle(reason)`` once the process ran ``max_jobs`` attempts or grew too big.

    Checked after each attempt that ran to an outcome (not one put back unfinished).
    """

    def __init__(self, spec: ChildSpec, recycle: Callable[[str], None]) -> None:
        self.spec = spec
        self.recycle = recycle
        self.done = 0
        """Attempts this process ran to an outcome."""
        self.fired = False

    def finished(self, job: Job, status: JobStatus, seconds: float) -> None:
        """Count the attempt and check the limits."""
        if status is JobStatus.PENDING or self.fired:
            return
        self.done += 1
        reason = self.reason()
        if reason is not None:
            self.fired = True
            self.recycle(reason)

    def reason(self) -> str | None:
        """Say which limit is reached, if one is."""
        spec = self.spec
        if spec.max_jobs is not None and self.done >= spec.max_jobs:
            return f"{self.done} job(s) done (--max-jobs-per-process {spec.max_jobs})"
        if spec.max_memory_mb is not None:
            rss = rss_mb()
            if rss >= spec.max_memory_mb:
                return f"{rss:.0f} MB resident (--max-memory-per-process {spec.max_memory_mb:g})"
        return None


class Supervised:
    """A worker process started by a supervisor (see the module docstring)."""

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.recycling = False
        """True once a limit was reached: the process then exits with :data:`RECYCLE_EXIT`."""
        with contextlib.suppress(OSError):  # handlers' own processes need not hold it
            os.set_inheritable(spec.fd, False)

    @classmethod
    def attach(cls, arg: str) -> Supervised | None:
        """Read ``--supervised`` and die with the supervisor; None if it is gone already."""
        spec = ChildSpec.parse(arg)
        if not die_with_parent(spec.parent):
            return None
        return cls(spec)

    def follow(self, hooks: Hooks, stop: Callable[[], None]) -> None:
        """Call ``stop`` at a limit (``hooks`` count the attempts) or when the supervisor dies."""

        def recycle(reason: str) -> None:
            log.info("worker %s recycling: %s", os.getpid(), reason)
            self.recycling = True
            self._tell(RECYCLING)
            stop()

        hooks.add(Recycler(self.spec, recycle))
        loop = asyncio.get_running_loop()

        def readable() -> None:
            try:
                data = os.read(self.spec.fd, 64)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(self.spec.fd)
                log.warning("worker %s: its supervisor is gone; stopping", os.getpid())
                stop()

        loop.add_reader(self.spec.fd, readable)

    def ready(self) -> None:
        """Tell the supervisor this process serves."""
        limit = self.spec.max_memory_mb
        if limit is not None and (rss := rss_mb()) >= limit:
            log.warning(
                "worker %s already holds %.0f MB before its first job: at"
                " --max-memory-per-process %g it is recycled after every job",
                os.getpid(),
                rss,
                limit,
            )
        self._tell(READY)

    def _tell(self, message: bytes) -> None:
        with contextlib.suppress(OSError):  # the supervisor is gone: it has no use for it
            os.write(self.spec.fd, message)
