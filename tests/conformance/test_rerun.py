"""Dead letters: failed jobs run again in bulk, with a changed payload or options."""

from __future__ import annotations

import pytest

from conftest import QueueFactory
from conveyor import JobPriority, JobStatus
from conveyor.errors import InvalidJobError


async def test_failed_jobs_run_again_with_a_fixed_payload(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=2)

    @queue.handler("import-row", max_retries=0, timeout=7)
    async def import_row(job):  # type: ignore[no-untyped-def]
        if not job.payload["valid"]:
            raise ValueError(f"row {job.payload['row']} is invalid")
        return job.payload["row"]

    @queue.handler("other", max_retries=0)
    async def other(job):  # type: ignore[no-untyped-def]
        raise RuntimeError("stays failed")

    ids = await queue.enqueue_many([("import-row", {"row": n, "valid": False}) for n in range(5)])
    stays = await queue.enqueue("other")
    await queue.start()
    for job_id in [*ids, stays]:
        assert (await queue.wait(job_id, timeout=10)).status is JobStatus.FAILED
    dead = await queue.get_jobs_by_status(JobStatus.FAILED)
    assert {job.id for job in dead} == {*ids, stays}  # the dead letters, listed

    batches: list[int] = []
    new_ids = await queue.rerun_jobs(
        name="import-row",
        payload=lambda old: {**old, "valid": True},
        max_retries=2,
        priority=JobPriority.HIGH,
        on_batch=batches.append,
    )
    assert len(new_ids) == 5
    assert batches == [5]
    assert not set(new_ids) & set(ids)
    for job_id in ids:
        assert await queue.get_job(job_id) is None
    done = [await queue.wait(job_id, timeout=10) for job_id in new_ids]
    assert sorted(job.result for job in done) == [0, 1, 2, 3, 4]
    assert {
        (j.status, j.config.max_retries, j.config.priority, j.config.timeout) for j in done
    } == {(JobStatus.COMPLETED, 2, JobPriority.HIGH, 7.0)}
    assert (await queue.get_job(stays)).status is JobStatus.FAILED  # type: ignore[union-attr]


async def test_rerun_takes_a_plain_payload_and_refuses_other_statuses(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue()
    job_id = await queue.enqueue("job", {"a": 1})
    assert await queue.cancel(job_id)
    [new_id] = await queue.rerun_jobs("cancelled", payload={"a": 2}, delay=3600)
    new = await queue.get_job(new_id)
    assert new is not None
    assert (new.payload, new.status) == ({"a": 2}, JobStatus.SCHEDULED)
    with pytest.raises(InvalidJobError, match="only failed or cancelled"):
        await queue.rerun_jobs("pending")
    with pytest.raises(InvalidJobError, match="max_retries"):
        await queue.rerun_jobs(max_retries=-1)
    assert await queue.rerun_jobs() == []
