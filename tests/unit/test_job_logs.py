"""A log line (INFO, job fields as extra) for every change of a job's status."""

from __future__ import annotations

import logging

import pytest

from conveyor import JobStatus, create_queue
from testkit import unique_name


def job_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, dict[str, object]]]:
    fields = ("job_id", "job_name", "queue", "attempt", "status", "count")
    return [
        (r.name, r.getMessage(), {f: r.__dict__[f] for f in fields if f in r.__dict__})
        for r in caplog.records
        if r.name in ("conveyor.queue", "conveyor.worker") and r.levelno >= logging.INFO
        and ("job" in r.getMessage())
    ]  # fmt: skip


async def test_every_status_change_logs_a_line(caplog: pytest.LogCaptureFixture) -> None:
    name = unique_name()
    queue = create_queue(url="memory://", workers=1, name=name)
    queue.register("work", lambda job: "done")
    caplog.set_level(logging.INFO, logger="conveyor")
    job_id = await queue.enqueue("work")
    assert await queue.cancel(job_id)
    assert await queue.retry_job(job_id)
    await queue.start()
    await queue.wait(job_id, timeout=5)
    await queue.stop()
    assert await queue.delete_job(job_id)
    ids = await queue.enqueue_many([("work", {})] * 3)
    assert await queue.cancel_jobs(JobStatus.PENDING) == 3
    assert await queue.delete_jobs(JobStatus.CANCELLED) == 3
    await queue.close()

    lines = job_lines(caplog)
    assert [message for _, message, _ in lines] == [
        f"job {job_id} (work) enqueued",
        f"job {job_id} cancelled",
        f"job {job_id} sent back to pending",
        f"job {job_id} (work) attempt 1 started",
        f"job {job_id} (work) attempt 1 completed in {lines[4][1].split(' in ')[1]}",
        f"job {job_id} deleted",
        f"3 jobs enqueued on queue {name!r}",
        f"3 pending job(s) of queue {name!r} cancelled",
        f"3 cancelled job(s) of queue {name!r} deleted",
    ]
    statuses = [fields.get("status") for _, _, fields in lines]
    assert statuses[:5] == ["pending", "cancelled", "pending", "processing", "completed"]
    assert lines[0][2] == {
        "job_id": job_id, "job_name": "work", "queue": name, "status": "pending"
    }  # fmt: skip
    assert [fields.get("count") for _, _, fields in lines[6:]] == [3, 3, 3]
    assert len(ids) == 3
