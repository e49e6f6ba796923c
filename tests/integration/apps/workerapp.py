"""The app that integration tests run in worker processes: ``conveyor worker workerapp:queue``.

Parametrised by environment variables:

- ``CONVEYOR_URL``: the store (read by ``create_queue``); tests always set it.
- ``IT_LEASE``: the queue's lease in seconds (default 30).
- ``IT_MARKERS``: a folder where ``hold`` jobs leave marker files.
- ``IT_LEDGER``: a file where ``record`` and ``limited`` jobs append one line per run.
- ``IT_CRON``: a cron expression for the ``tick`` job to be scheduled on.
- ``IT_CLOCK_SKEW``: seconds added to this process's wall clock (``time.time``), as
  on a machine whose clock is off.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path
from typing import Any

from conveyor import Job, create_queue

if skew := float(os.environ.get("IT_CLOCK_SKEW", "0")):
    _machine_time = time.time
    time.time = lambda: _machine_time() + skew

if not os.environ.get("CONVEYOR_URL"):
    raise RuntimeError("integration test apps need CONVEYOR_URL (never the default file)")

queue = create_queue(workers=4, lease=float(os.environ.get("IT_LEASE", "30")))


def _markers() -> Path:
    return Path(os.environ["IT_MARKERS"])


def _touch(name: str) -> None:
    (_markers() / name).write_text(f"{os.getpid()}\n")


def _append(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


@queue.handler("hold", max_retries=3, retry_delay=0.1, timeout=120)
async def hold(job: Job) -> dict[str, Any]:
    """Mark the start, run until ``seconds`` pass or the ``release`` file exists, mark the end.

    Markers: ``<id>.started.<attempt>.<pid>`` and ``<id>.done.<pid>``.
    """
    pid = os.getpid()
    _touch(f"{job.id}.started.{job.attempts}.{pid}")
    deadline = time.monotonic() + float(job.payload.get("seconds", 60))
    release = _markers() / "release"
    while time.monotonic() < deadline and not release.exists():
        await asyncio.sleep(0.02)
    _touch(f"{job.id}.done.{pid}")
    return {"pid": pid}


@queue.handler("record", max_retries=3, retry_delay=0.1, timeout=60)
async def record(job: Job) -> None:
    """Append ``id pid start end attempt`` to the ledger in one O_APPEND write.

    Times are ``time.monotonic()``: one system-wide clock on Linux and macOS, so the
    intervals of different processes can be compared.
    """
    start = time.monotonic()
    await asyncio.sleep(random.uniform(0, float(job.payload.get("max_sleep", 0.002))))
    end = time.monotonic()
    _append(
        os.environ["IT_LEDGER"], f"{job.id} {os.getpid()} {start:.6f} {end:.6f} {job.attempts}\n"
    )


@queue.handler("limited", concurrency=2, timeout=60)
async def limited(job: Job) -> None:
    """A ``record`` job of which at most two run at once over every process."""
    await record(job)


@queue.handler("chaos", max_retries=10, retry_delay=0.1, timeout=60)
async def chaos(job: Job) -> None:
    """Append ``start id pid attempt`` to the ledger, sleep a little, append ``end ...``.

    A run cut short by SIGKILL leaves a start line without its end line.
    """
    ledger = os.environ["IT_LEDGER"]
    _append(ledger, f"start {job.id} {os.getpid()} {job.attempts}\n")
    await asyncio.sleep(random.uniform(0, float(job.payload.get("max_sleep", 0.05))))
    _append(ledger, f"end {job.id} {os.getpid()} {job.attempts}\n")


_grown: list[bytes] = []


@queue.handler("grow", timeout=60)
async def grow(job: Job) -> dict[str, Any]:
    """Keep ``mb`` MB more memory, every page written (resident), until the process exits."""
    _grown.append(b"\x01" * (int(job.payload["mb"]) * 2**20))
    return {"pid": os.getpid()}


@queue.handler("tick", timeout=30)
async def tick(job: Job) -> None:
    """Append ``tick <scheduled_at epoch> <pid>`` to the ledger (a recurring job)."""
    assert job.config.scheduled_at is not None
    _append(
        os.environ["IT_LEDGER"], f"tick {job.config.scheduled_at.timestamp():.3f} {os.getpid()}\n"
    )


if os.environ.get("IT_CRON"):
    queue.cron("tick", os.environ["IT_CRON"])
