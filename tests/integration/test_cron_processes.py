"""Recurring jobs across processes: three ``conveyor worker`` processes run the same
every-second schedule on each shared store (SQLite file, Redis, PostgreSQL), and every
tick of the run gets exactly one job, run once."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from it_support import Processes, wait_for

from conveyor import JobStatus, Queue

pytestmark = pytest.mark.slow

TICKS = 10


@pytest.fixture
def db_url(shared_store_url: str) -> str:
    """Each test runs on each shared store: a SQLite file, Redis, PostgreSQL."""
    return shared_store_url


def ledger_ticks(path: Path) -> list[tuple[float, int]]:
    """``(scheduled_at, pid)`` of every ``tick`` run."""
    runs = []
    for line in path.read_text().splitlines() if path.exists() else []:
        kind, scheduled_at, pid = line.split()
        if kind == "tick":
            runs.append((float(scheduled_at), int(pid)))
    return runs


def test_three_processes_fire_every_tick_exactly_once(
    procs: Processes, queue: Queue, tmp_path: Path
) -> None:
    workers = [
        procs.worker(f"worker{n}", "--concurrency", "2", IT_CRON="* * * * * *") for n in range(3)
    ]
    all_started = time.time()
    ledger = tmp_path / "ledger.txt"
    wait_for(
        lambda: sum(t > all_started for t, _ in ledger_ticks(ledger)) >= TICKS + 1,
        TICKS + 15,
        f"{TICKS + 1} ticks after the three workers started",
    )
    for worker in workers:
        worker.signal(signal.SIGTERM)
    for worker in workers:
        assert worker.wait(15) == 0, worker.log()

    runs = ledger_ticks(ledger)
    per_tick = Counter(scheduled_at for scheduled_at, _ in runs)
    twice = {tick: n for tick, n in per_tick.items() if n > 1}
    assert not twice, f"ticks that ran more than once: {twice}"
    # While all three ran, no second was left without its tick.
    window = sorted(t for t in per_tick if t > all_started)
    assert len(window) >= TICKS
    assert window == [window[0] + n for n in range(len(window))], window
    assert all(t == int(t) for t in window), "a tick's scheduled_at is a whole second"
    # One job per tick in the store too, each completed once.
    jobs = queue.sync.get_jobs_by_status(JobStatus.COMPLETED, limit=1000)
    stored = Counter(job.config.scheduled_at.timestamp() for job in jobs if job.name == "tick")  # type: ignore[union-attr]
    assert max(stored.values()) == 1
    assert set(per_tick) <= set(stored)
    (info,) = queue.sync.get_schedules()
    assert (info.key, info.schedule, info.paused, info.stale) == (
        "tick",
        "* * * * * *",
        False,
        False,
    )
    assert info.last_job_id in {job.id for job in jobs}
    pids = {pid for _, pid in runs}
    assert len(pids) >= 2, f"one worker ran every tick: {pids}"
