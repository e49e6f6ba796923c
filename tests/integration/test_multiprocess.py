"""Several worker processes on ONE SQLite file: nothing lost, nothing run twice at once."""

from __future__ import annotations

import itertools
import random
import re
import signal
import sqlite3
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
from it_support import APPS, Child, Processes, wait_for

from conveyor import JobStatus, Queue

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Run:
    """One run of a ``record`` job, as its handler wrote it to the ledger."""

    job_id: str
    pid: int
    start: float
    end: float
    attempt: int


def read_ledger(path: Path) -> dict[str, list[Run]]:
    runs: dict[str, list[Run]] = defaultdict(list)
    if not path.exists():
        return runs
    for line in path.read_text().splitlines():
        job_id, pid, start, end, attempt = line.split()
        runs[job_id].append(Run(job_id, int(pid), float(start), float(end), int(attempt)))
    return runs


def check_ledger(runs: dict[str, list[Run]], expected: list[str], pids: set[int]) -> None:
    """Every expected job ran exactly once, in one of ``pids``, never two runs at once."""
    assert len(set(expected)) == len(expected), "enqueue returned a duplicate id"
    assert set(runs) == set(expected), (
        f"missing: {sorted(set(expected) - set(runs))[:5]},"
        f" unexpected: {sorted(set(runs) - set(expected))[:5]}"
    )
    overlapping = []
    for job_runs in runs.values():
        ordered = sorted(job_runs, key=lambda run: run.start)
        overlapping += [(a, b) for a, b in itertools.pairwise(ordered) if b.start < a.end]
    assert not overlapping, f"a job held by two workers at once: {overlapping[:3]}"
    twice = {job_id: job_runs for job_id, job_runs in runs.items() if len(job_runs) > 1}
    assert not twice, f"{len(twice)} job(s) ran more than once: {list(twice.items())[:3]}"
    assert {run.pid for job_runs in runs.values() for run in job_runs} <= pids


def stop_all(workers: list[Child]) -> None:
    for worker in workers:
        worker.signal(signal.SIGTERM)
    for worker in workers:
        assert worker.wait(15) == 0, worker.log()


def test_a_killed_worker_loses_nothing(procs: Processes, queue: Queue, markers: Path) -> None:
    """SIGKILL mid-job: once the lease (1 s) runs out, another worker runs the jobs."""
    doomed = procs.worker("doomed", "--concurrency", "3", IT_LEASE="1.0")
    ids = queue.sync.enqueue_many([("hold", {"seconds": 60})] * 6)
    held = wait_for(
        lambda: (found := sorted(markers.glob("*.started.1.*"))) and len(found) == 3 and found,
        10,
        "the doomed worker to start 3 jobs",
    )
    held_ids = {path.name.split(".")[0] for path in held}
    assert all(path.name.endswith(f".{doomed.pid}") for path in held)

    doomed.signal(signal.SIGKILL)
    assert doomed.wait(10) == -signal.SIGKILL
    stats = queue.sync.get_stats()
    assert (stats.processing, stats.pending) == (3, 3)  # the dead worker still holds 3

    (markers / "release").touch()
    rescuer = procs.worker("rescuer", "--concurrency", "4", IT_LEASE="1.0")
    jobs = [queue.sync.wait(job_id, timeout=15) for job_id in ids]

    assert [job.status for job in jobs] == [JobStatus.COMPLETED] * 6
    assert all(job.result == {"pid": rescuer.pid} for job in jobs)
    for job in jobs:
        # A lost lease counts as an attempt: the held jobs ran twice, the others once.
        assert job.attempts == (2 if job.id in held_ids else 1), job
        assert job.error is None
        assert (markers / f"{job.id}.done.{rescuer.pid}").exists()
        assert not (markers / f"{job.id}.done.{doomed.pid}").exists()
    assert queue.sync.get_stats().completed == 6
    assert "requeued" in rescuer.log()  # lease recovery, not a graceful release
    stop_all([rescuer])


def test_three_workers_drain_a_backlog_exactly_once(
    procs: Processes, queue: Queue, tmp_path: Path
) -> None:
    """3 worker processes and this process enqueueing at once; 2,000 jobs, each run once."""
    count = 2000
    workers = [procs.worker(f"worker{n}", "--concurrency", "8", ready=False) for n in range(3)]
    for worker in workers:
        worker.wait_log(f"worker {worker.pid} serving")

    rng = random.Random(42)
    ids: list[str] = []
    while len(ids) < count:
        size = min(rng.choice([1, 1, 5, 20, 50]), count - len(ids))
        if size == 1:
            ids.append(queue.sync.enqueue("record", {"max_sleep": 0.003}))
        else:
            ids += queue.sync.enqueue_many([("record", {"max_sleep": 0.003})] * size)
    enqueued_by = time.monotonic()

    wait_for(lambda: queue.sync.get_stats().completed == count, 25, f"{count} jobs to complete")
    stats = queue.sync.get_stats()
    assert (stats.completed, stats.total) == (count, count), stats

    pids = {worker.pid for worker in workers}
    runs = read_ledger(tmp_path / "ledger.txt")
    check_ledger(runs, ids, pids)
    assert all(run.attempt == 1 for job_runs in runs.values() for run in job_runs)
    per_worker = {pid: sum(r.pid == pid for rs in runs.values() for r in rs) for pid in pids}
    assert all(per_worker.values()), f"a worker ran no job: {per_worker}"
    # The workers drained while this process was still enqueueing.
    assert min(run.start for job_runs in runs.values() for run in job_runs) < enqueued_by
    stop_all(workers)


def test_a_web_like_producer_enqueues_while_workers_run(
    procs: Processes, queue: Queue, tmp_path: Path
) -> None:
    """A separate producer process (request threads using ``queue.sync``) feeds 2 workers."""
    count = 300
    workers = [procs.worker(f"worker{n}", "--concurrency", "4", ready=False) for n in range(2)]
    for worker in workers:
        worker.wait_log(f"worker {worker.pid} serving")
    ids_file = tmp_path / "produced.txt"
    producer = procs.spawn(
        "producer", [sys.executable, str(APPS / "producer.py"), str(count), "6", str(ids_file)]
    )

    assert producer.wait(20) == 0, producer.log()
    produced = re.search(r"produced (\d+) (\S+)", producer.log())
    assert produced, producer.log()
    assert int(produced[1]) == count
    ids = ids_file.read_text().split()
    assert len(ids) == count

    jobs = [queue.sync.wait(job_id, timeout=15) for job_id in ids]
    assert all(job.status is JobStatus.COMPLETED for job in jobs)
    runs = read_ledger(tmp_path / "ledger.txt")
    check_ledger(runs, ids, {worker.pid for worker in workers})
    # The workers ran jobs while the producer was still enqueueing.
    assert min(run.start for job_runs in runs.values() for run in job_runs) < float(produced[2])
    stop_all(workers)


def test_workers_and_producers_follow_a_database_file_made_anew(
    procs: Processes, queue: Queue, tmp_path: Path
) -> None:
    """The file is deleted under a running worker and a producer that both had it open.

    Each notices before its next statement and opens (makes) the file now at the path:
    a job enqueued after the deletion is in that file, where any process started later
    finds it, and the old worker runs it. Before, both went on sharing the deleted file.
    """
    worker = procs.worker("worker", "--concurrency", "2")
    before = queue.sync.enqueue("record", {"max_sleep": 0.001})
    assert queue.sync.wait(before, timeout=10).status is JobStatus.COMPLETED
    path = tmp_path / "jobs.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)

    after = queue.sync.enqueue("record", {"max_sleep": 0.001})
    conn = sqlite3.connect(path)
    try:
        assert [row[0] for row in conn.execute("SELECT id FROM conveyor_jobs")] == [after]
    finally:
        conn.close()
    assert queue.sync.wait(after, timeout=10).status is JobStatus.COMPLETED
    assert set(read_ledger(tmp_path / "ledger.txt")) == {before, after}
    wait_for(lambda: "was deleted or replaced" in worker.log(), 5, "the worker's warning")
    stop_all([worker])
