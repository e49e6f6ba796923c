"""queue.hooks: what watches enqueues and attempts, each hook called where it overrides."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest

from conveyor import Job, JobStatus, create_queue
from conveyor.definitions.hooks import Hook, Hooks
from conveyor.stores.records import JobRecord


class Recorder(Hook):
    """Writes down every call, tagged with its own name."""

    def __init__(self, tag: str, calls: list[str]) -> None:
        self.tag = tag
        self.calls = calls

    @contextmanager
    def sending(self, records: Sequence[JobRecord]) -> Iterator[None]:
        self.calls.append(f"{self.tag} sending {len(records)}")
        yield
        self.calls.append(f"{self.tag} sent")

    def stored(self, records: Sequence[JobRecord]) -> None:
        self.calls.append(f"{self.tag} stored {','.join(r.name for r in records)}")

    async def after_enqueue(self) -> None:
        self.calls.append(f"{self.tag} after enqueue")

    def started(self, job: Job) -> None:
        self.calls.append(f"{self.tag} started {job.name} {job.attempts}")

    @contextmanager
    def running(self, job: Job) -> Iterator[None]:
        self.calls.append(f"{self.tag} running")
        yield
        self.calls.append(f"{self.tag} ran")

    def finished(self, job: Job, status: JobStatus, seconds: float) -> None:
        assert seconds >= 0
        self.calls.append(f"{self.tag} finished {status.value}")


async def test_hooks_see_enqueues_and_attempts_in_the_order_they_were_added() -> None:
    queue = create_queue(url="memory://", workers=1)
    queue.register("ok", lambda job: None)
    calls: list[str] = []
    queue.hooks.add(Recorder("a", calls))
    queue.hooks.add(Recorder("b", calls))
    job_id = await queue.enqueue("ok")
    assert calls == ["a sending 1", "b sending 1", "a stored ok", "b stored ok",
                     "a after enqueue", "b after enqueue", "b sent", "a sent"]  # fmt: skip
    calls.clear()
    await queue.start()
    try:
        await queue.wait(job_id, timeout=5)
    finally:
        await queue.stop()
    assert calls == ["a started ok 1", "b started ok 1", "a running", "b running", "b ran",
                     "a ran", "a finished completed", "b finished completed"]  # fmt: skip


async def test_a_hook_that_raises_fails_the_attempt() -> None:
    class Refuses(Hook):
        @contextmanager
        def running(self, job: Job) -> Iterator[None]:
            raise RuntimeError("not today")
            yield  # pragma: no cover

    queue = create_queue(url="memory://")
    queue.register("ok", lambda job: None, max_retries=0)
    queue.hooks.add(Refuses())
    job_id = await queue.enqueue("ok")
    await queue.start()
    try:
        job = await queue.wait(job_id, timeout=5)
    finally:
        await queue.stop()
    assert job.status is JobStatus.FAILED
    assert "not today" in (job.error or "")


async def test_an_observer_that_raises_is_logged_and_changes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(Hook):
        def stored(self, records: Sequence[JobRecord]) -> None:
            raise RuntimeError("stored hook")

        def started(self, job: Job) -> None:
            raise RuntimeError("started hook")

        def finished(self, job: Job, status: JobStatus, seconds: float) -> None:
            raise RuntimeError("finished hook")

    queue = create_queue(url="memory://")
    queue.register("ok", lambda job: "done")
    queue.hooks.add(Broken())
    job_id = await queue.enqueue("ok")  # stored, though its observer raised
    await queue.start()
    try:
        job = await queue.wait(job_id, timeout=5)
    finally:
        await queue.stop()
    assert (job.status, job.result) == (JobStatus.COMPLETED, "done")
    for text in ("stored hook", "started hook", "finished hook"):
        assert text in caplog.text


def test_only_the_methods_a_hook_overrides_are_called_and_a_removed_one_is_not() -> None:
    class CountsStored(Hook):
        def __init__(self) -> None:
            self.stored_calls = 0

        def stored(self, records: Sequence[JobRecord]) -> None:
            self.stored_calls += 1

    hooks = Hooks()
    assert not hooks.wrap_sending
    assert not hooks.wait_after_enqueue
    counting = hooks.add(CountsStored())
    hooks.add(counting)  # once only
    assert list(hooks) == [counting]
    assert not hooks.wrap_sending
    assert not hooks.wait_after_enqueue
    hooks.stored([])
    assert counting.stored_calls == 1  # type: ignore[attr-defined]
    hooks.remove(counting)
    hooks.stored([])
    assert counting.stored_calls == 1  # type: ignore[attr-defined]
    assert list(hooks) == []


@pytest.mark.parametrize("url", ["memory://", "sqlite:///{tmp}/jobs.db"])
def test_a_hook_waiting_after_enqueue_takes_blocking_enqueues_through_the_loop(
    url: str, tmp_path: object
) -> None:
    calls: list[str] = []
    queue = create_queue(url=url.format(tmp=tmp_path))
    queue.hooks.add(Recorder("a", calls))
    try:
        queue.sync.enqueue("ok")
        queue.sync.enqueue_many([("ok", None)])
    finally:
        queue.sync.close()
    assert calls.count("a after enqueue") == 2
