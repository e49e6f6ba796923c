"""``enqueue(..., job_id=...)``: a job whose id the caller made before the enqueue."""

from __future__ import annotations

import pytest

from conftest import QueueFactory
from conveyor import InvalidJobError, JobStatus, create_queue
from conveyor.ids import new_job_id
from testkit import unique_name


async def test_a_job_gets_the_id_made_for_it_beforehand(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1)

    @queue.handler("double")
    async def double(job):  # type: ignore[no-untyped-def]
        return job.payload * 2

    made = new_job_id()
    later = new_job_id()
    assert await queue.enqueue("double", 21, job_id=made) == made
    assert await queue.schedule("double", 1, 3600, job_id=later) == later
    plain = await queue.enqueue("double", 2)  # the option-less path still makes its own
    assert plain not in (made, later)
    await queue.start()
    job = await queue.wait(made, timeout=5)
    assert (job.id, job.status, job.result) == (made, JobStatus.COMPLETED, 42)
    scheduled = await queue.get_job(later)
    assert scheduled is not None
    assert scheduled.status is JobStatus.SCHEDULED


async def test_a_held_key_returns_its_holder_not_the_id_given(make_queue: QueueFactory) -> None:
    queue = make_queue()
    holder = await queue.enqueue("work", {}, key="k")
    assert await queue.enqueue("work", {}, key="k", job_id=new_job_id()) == holder


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "01JQ",  # too short
        new_job_id().lower(),  # lower case is not conveyor's spelling
        "8" + new_job_id()[1:],  # more than 128 bits
        new_job_id()[:-1] + "U",  # not in Crockford's alphabet
        42,
    ],
)
async def test_an_id_not_of_conveyors_form_is_refused(
    make_queue: QueueFactory, bad: object
) -> None:
    queue = make_queue()
    with pytest.raises(InvalidJobError, match="job_id"):
        await queue.enqueue("work", {}, job_id=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidJobError, match="job_id"):
        queue.sync.enqueue("work", {}, job_id=bad)  # type: ignore[arg-type]
    assert (await queue.get_stats()).total == 0


def test_the_blocking_twin_takes_the_id_on_both_of_its_paths(store_url: str) -> None:
    # On SQLite the first enqueue opens the store through the portal and the next ones
    # commit on the calling thread; elsewhere both go through the portal.
    queue = create_queue(url=store_url, name=unique_name())
    try:
        ids = [new_job_id() for _ in range(3)]
        assert [queue.sync.enqueue("work", {"n": n}, job_id=i) for n, i in enumerate(ids)] == ids
        assert queue.sync.schedule("work", {}, 60, job_id=(late := new_job_id())) == late
        for n, job_id in enumerate(ids):
            job = queue.sync.get_job(job_id)
            assert job is not None
            assert job.payload == {"n": n}
    finally:
        queue.sync.close()
