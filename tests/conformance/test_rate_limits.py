"""Rate limits: at most N starts per period of a handler (or of a key), spread evenly,
over every queue object on the store; jobs over the limit wait, they do not fail."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest

from conftest import QueueFactory
from conveyor import Job, JobStatus
from conveyor.errors import HandlerRegistrationError


async def test_starts_are_taken_one_interval_apart(make_queue: QueueFactory) -> None:
    store = make_queue().store
    assert await store.take_start("q:email", 0.3) == 0.0
    wait = await store.take_start("q:email", 0.3)
    assert 0.0 < wait <= 0.3
    assert await store.take_start("q:sms", 0.3) == 0.0  # buckets apart
    await asyncio.sleep(wait + 0.02)
    assert await store.take_start("q:email", 0.3) == 0.0


async def test_a_handler_starts_at_most_its_rate_over_queue_objects(
    make_queue: QueueFactory,
) -> None:
    first = make_queue(workers=4)
    second = make_queue(peer=first, workers=4)
    starts: list[float] = []

    async def send(job: Job) -> None:
        starts.append(time.monotonic())

    for queue in (first, second):
        queue.register("send", send, rate_limit=(5, 0.5))  # one start every 0.1 s
    ids = await first.enqueue_many([("send", {"n": n}) for n in range(8)])
    await first.start()
    await second.start()
    done = [await first.wait(job_id, timeout=30) for job_id in ids]
    assert all((job.status, job.attempts) == (JobStatus.COMPLETED, 1) for job in done)
    starts.sort()
    # Starts are due 0.1 s apart; a start may come a little late after its turn, so
    # count per half second (unlimited, all eight would start within milliseconds).
    most = max(sum(1 for t in starts if first <= t < first + 0.5) for first in starts)
    assert most <= 6, starts
    assert starts[-1] - starts[0] > 0.6


async def test_a_rate_per_key(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=4)
    starts: dict[str, list[float]] = {"a.com": [], "b.com": []}

    @queue.handler("mail", rate_limit="2/s", rate_key=lambda p: p["domain"])
    async def mail(job: Job) -> None:
        starts[job.payload["domain"]].append(time.monotonic())

    ids = await queue.enqueue_many([("mail", {"domain": d}) for d in ("a.com", "b.com") * 2])
    await queue.start()
    for job_id in ids:
        assert (await queue.wait(job_id, timeout=30)).status is JobStatus.COMPLETED
    for domain in starts.values():
        assert domain[1] - domain[0] > 0.35  # one start due every 0.5 s per domain
    assert abs(starts["a.com"][0] - starts["b.com"][0]) < 0.4  # the domains do not wait


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rate_limit": "ten/s"}, "like '10/s'"),
        ({"rate_limit": "10/d"}, "like '10/s'"),
        ({"rate_limit": (0, 1.0)}, "count of 1 or more"),
        ({"rate_limit": (5, -1)}, "like '10/s'"),
        ({"rate_key": lambda p: p}, "needs rate_limit"),
        ({"rate_limit": "1/s", "rate_key": "domain"}, "function of the payload"),
    ],
)
def test_bad_rates_are_refused(
    make_queue: QueueFactory, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(HandlerRegistrationError, match=message):
        make_queue().register("job", lambda job: None, **options)


def test_rates_by_name_and_by_period(make_queue: QueueFactory) -> None:
    queue = make_queue()
    queue.register("a", lambda job: None, rate_limit="100/m")
    queue.register("b", lambda job: None, rate_limit=(3, timedelta(hours=1)))
    assert queue.handlers.get("a").rate_limit == (100, 60.0)  # type: ignore[union-attr]
    assert queue.handlers.get("b").rate_limit == (3, 3600.0)  # type: ignore[union-attr]
