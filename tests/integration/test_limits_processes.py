"""A concurrency limit over processes: three ``conveyor worker`` processes of four slots
each run a handler limited to 2, and its runs (from the handlers' own ledger) never
overlap three deep, on each shared store."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from it_support import Processes

from conveyor import JobStatus, Queue

pytestmark = pytest.mark.slow

JOBS = 16


@pytest.fixture
def db_url(shared_store_url: str) -> str:
    """Each test runs on each shared store: a SQLite file, Redis, PostgreSQL."""
    return shared_store_url


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def test_three_processes_never_run_more_than_the_limit(
    procs: Processes, queue: Queue, tmp_path: Path
) -> None:
    workers = [procs.worker(f"worker{n}", "--concurrency", "4") for n in range(3)]
    ids = queue.sync.enqueue_many([("limited", {"max_sleep": 0.15})] * JOBS)
    jobs = [queue.sync.wait(job_id, timeout=60) for job_id in ids]
    assert all(job.status is JobStatus.COMPLETED for job in jobs)
    lines = (tmp_path / "ledger.txt").read_text().splitlines()
    runs = [line.split() for line in lines]
    assert sorted(run[0] for run in runs) == sorted(ids)  # each ran once
    pids = {int(run[1]) for run in runs}
    assert len(pids) >= 2, "the runs should spread over the processes"
    assert most_at_once([(float(run[2]), float(run[3])) for run in runs]) == 2
    for worker in workers:
        worker.signal(signal.SIGTERM)
    for worker in workers:
        assert worker.wait(15) == 0, worker.log()
