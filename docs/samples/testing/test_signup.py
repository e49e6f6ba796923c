"""Tests of code that enqueues: nothing reaches the real store, time moves when told."""

from __future__ import annotations

from datetime import timedelta

import myapp
import pytest
from myapp import app, queue

from conveyor import JobStatus
from conveyor.testing import QueueTester


def test_signup_sends_a_welcome_email() -> None:
    """The view enqueues the e-mail; draining runs it here, now."""
    with QueueTester(queue) as jobs:
        app.test_client().post("/signup", json={"email": "a@example.com"})
        jobs.sync.assert_enqueued("send-email", {"to": "a@example.com"})
        [sent] = jobs.sync.drain()  # run what is due, here and now
        assert sent.status is JobStatus.COMPLETED
        assert myapp.sent[-1] == "a@example.com"


def test_a_month_of_digests(jobs: QueueTester) -> None:
    """``advance`` stops at every tick on the way: thirty days, thirty digests."""
    before = len(myapp.sent)
    finished = jobs.sync.advance(timedelta(days=30))
    assert [job.name for job in finished] == ["daily-digest"] * 30
    assert len(myapp.sent) == before + 30


def test_inline_runs_each_job_as_it_is_enqueued() -> None:
    """With ``inline=True`` the job has run when the view returns."""
    with QueueTester(queue, inline=True) as jobs:
        app.test_client().post("/signup", json={"email": "b@example.com"})
        [done] = jobs.sync.jobs("completed", name="send-email")
        assert done.result == {"sent": True}


@pytest.mark.asyncio
async def test_the_same_in_async_code() -> None:
    """``async with`` and ``await``: the tester's methods are coroutines."""
    async with QueueTester(queue) as jobs:
        await queue.enqueue("send-email", {"to": "c@example.com"})
        [sent] = await jobs.drain()
        assert sent.payload == {"to": "c@example.com"}
