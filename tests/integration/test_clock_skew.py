"""One clock: workers whose machines' clocks are an hour off agree on what is due.

On Redis and PostgreSQL the server's clock decides when a delayed job is due and when a
lease ends. Two worker processes, one an hour ahead and one an hour behind (their
``time.time`` shifted), serve jobs enqueued with a delay by this process: none starts
early (the one ahead would), none is held up an hour (the one behind would).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from it_support import Processes, wait_for
from test_multiprocess import read_ledger

from conveyor import JobStatus, Queue
from servers import POSTGRES, REDIS, namespace_on

pytestmark = pytest.mark.slow

DELAY = 1.5


@pytest.fixture(params=["redis", "postgres"])
def db_url(request: pytest.FixtureRequest) -> Iterator[str]:
    with namespace_on(REDIS if request.param == "redis" else POSTGRES) as url:
        yield url


def test_skewed_workers_run_delayed_jobs_neither_early_nor_late(
    procs: Processes, queue: Queue, tmp_path: Path
) -> None:
    ahead = procs.worker("ahead", "--concurrency", "2", IT_CLOCK_SKEW="3600")
    behind = procs.worker("behind", "--concurrency", "2", IT_CLOCK_SKEW="-3600")
    enqueued_at = time.monotonic()
    ids = [queue.sync.schedule("record", {"max_sleep": 0.001}, delay=DELAY) for _ in range(8)]

    jobs = [queue.sync.wait(job_id, timeout=DELAY + 10) for job_id in ids]
    assert all(job.status is JobStatus.COMPLETED for job in jobs)
    runs = read_ledger(tmp_path / "ledger.txt")
    starts = [run.start for job_id in ids for run in runs[job_id]]
    assert len(starts) == len(ids)
    assert min(starts) >= enqueued_at + DELAY - 0.05, "a job ran before its delay"
    assert max(starts) <= enqueued_at + DELAY + 3, "a job was held up far past its delay"
    pids = {run.pid for job_id in ids for run in runs[job_id]}
    assert pids <= {ahead.pid, behind.pid}
    for worker in (ahead, behind):
        worker.signal(signal.SIGTERM)
    for worker in (ahead, behind):
        assert worker.wait(15) == 0, worker.log()
    wait_for(lambda: not ahead.alive() and not behind.alive(), 5, "the workers to exit")
