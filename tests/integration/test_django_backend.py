"""conveyor as a Django task backend: the contract of ``django.tasks`` (or the backport).

Tasks enqueued through Django's API, run by a worker of the backend's conveyor queue
in this process, and read back through ``get_result``: statuses, return values, errors
with tracebacks, attempts, times, priority, ``run_after``, queues, context, coroutines
and Django's signals.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django_env import tasks_on

from conveyor import Job, JobConfig, JobPriority, JobStatus
from conveyor.contrib.django import ConveyorBackend
from conveyor.contrib.django.compat import (
    FRAMEWORK,
    TASK_MAX_PRIORITY,
    TASK_MIN_PRIORITY,
    InvalidTask,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_enqueued,
    task_finished,
    task_started,
)
from conveyor.contrib.django.results import STATUS, task_result
from conveyor.contrib.django.settings import conveyor_priority
from conveyor.ids import check_job_id
from djapp import tasks


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[ConveyorBackend]:
    with tasks_on(f"sqlite:///{tmp_path / 'tasks.db'}", max_retries=2, retry_delay=0) as made:
        yield made


def run_all(backend: ConveyorBackend, *ids: str) -> None:
    """Run a worker of the backend here until the jobs ``ids`` are finished."""
    queue = backend.queue
    queue.sync.start(queues=list(queue.served))
    try:
        for job_id in ids:
            queue.sync.wait(job_id, timeout=10)
    finally:
        queue.sync.stop(timeout=5)


def test_a_task_is_a_conveyor_job_and_its_result_comes_back(backend: ConveyorBackend) -> None:
    before = datetime.now(UTC)
    result = tasks.add.enqueue(2, 3)
    assert check_job_id(result.id) == result.id
    assert (result.status, result.args, result.kwargs) == (TaskResultStatus.READY, [2, 3], {})
    assert result.backend == "default"
    job = backend.queue.sync.get_job(result.id)
    assert job is not None
    assert job.name == "django.task"
    assert job.queue == "default"
    assert job.payload == {"task": "djapp.tasks.add", "args": [2, 3], "kwargs": {}, "priority": 0}
    assert job.config.max_retries == 2
    assert job.config.timeout is None  # Django's own backends set no time limit
    waiting = tasks.add.get_result(result.id)
    assert waiting.status == TaskResultStatus.READY
    with pytest.raises(ValueError, match="not finished"):
        _ = waiting.return_value

    run_all(backend, result.id)
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 5
    assert result.is_finished
    assert result.errors == []
    assert result.attempts == 1
    assert result.enqueued_at is not None
    assert result.started_at is not None
    assert result.finished_at is not None
    assert before - timedelta(seconds=1) < result.enqueued_at <= result.started_at
    assert result.started_at == result.last_attempted_at <= result.finished_at
    assert result.task.func is tasks.add.func


def test_priority_queue_and_run_after_are_the_jobs(backend: ConveyorBackend) -> None:
    sent = tasks.send.enqueue("a@example.com", subject="Welcome")
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    later = tasks.add.using(priority=-20, run_after=when).enqueue(1, 1)
    urgent = tasks.add.using(priority=100).enqueue(0, 0)
    jobs = {r.id: backend.queue.sync.get_job(r.id) for r in (sent, later, urgent)}
    assert jobs[sent.id].queue == "emails"  # type: ignore[union-attr]
    assert jobs[sent.id].config.priority is JobPriority.HIGH  # type: ignore[union-attr]
    assert jobs[sent.id].payload["kwargs"] == {"subject": "Welcome"}  # type: ignore[union-attr]
    assert jobs[later.id].status is JobStatus.SCHEDULED  # type: ignore[union-attr]
    assert jobs[later.id].config.scheduled_at == when  # type: ignore[union-attr]
    assert jobs[later.id].config.priority is JobPriority.LOW  # type: ignore[union-attr]
    assert jobs[urgent.id].config.priority is JobPriority.CRITICAL  # type: ignore[union-attr]
    read = tasks.add.get_result(later.id)
    assert (read.task.priority, read.task.run_after, read.status) == (-20, when, "READY")
    assert tasks.send.get_result(sent.id).task.queue_name == "emails"

    run_all(backend, sent.id, urgent.id)  # one worker serves every queue in QUEUES
    assert tasks.send.get_result(sent.id).return_value == "Welcome sent to a@example.com"


def test_the_priority_map_keeps_order_and_sets_the_default_apart() -> None:
    levels = [conveyor_priority(p) for p in range(TASK_MIN_PRIORITY, TASK_MAX_PRIORITY + 1)]
    assert levels == sorted(levels)
    assert conveyor_priority(0) is JobPriority.NORMAL
    assert {conveyor_priority(-100), conveyor_priority(-1)} == {JobPriority.LOW}
    assert {conveyor_priority(1), conveyor_priority(49)} == {JobPriority.HIGH}
    assert {conveyor_priority(50), conveyor_priority(100)} == {JobPriority.CRITICAL}


def test_a_failure_keeps_its_exception_class_and_traceback(backend: ConveyorBackend) -> None:
    failed = tasks.explode.enqueue()
    odd = tasks.unserialisable.enqueue()
    run_all(backend, failed.id, odd.id)
    failed.refresh()
    assert failed.status == TaskResultStatus.FAILED
    assert failed.attempts == 3  # max_retries=2
    [error] = failed.errors
    assert error.exception_class is tasks.PaymentError
    assert error.exception_class_path == "djapp.tasks.PaymentError"
    assert "card declined" in error.traceback
    assert 'raise PaymentError("card declined")' in error.traceback
    with pytest.raises(ValueError, match="failed"):
        _ = failed.return_value
    odd.refresh()
    assert odd.errors[0].exception_class is TypeError


def test_a_task_that_takes_context_sees_its_attempt(backend: ConveyorBackend) -> None:
    result = tasks.flaky.enqueue(3)  # fails on attempts 1 and 2
    run_all(backend, result.id)
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == {"attempt": 3, "id": result.id}
    assert result.attempts == len(result.worker_ids) == 3


def test_a_coroutine_task_that_takes_context_sees_its_attempt(backend: ConveyorBackend) -> None:
    result = tasks.aflaky.enqueue(2)  # fails on attempt 1
    run_all(backend, result.id)
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == {"attempt": 2, "id": result.id}
    assert result.attempts == 2


def test_a_coroutine_task_runs_on_the_workers_loop(backend: ConveyorBackend) -> None:
    result = tasks.aadd.enqueue(20, 22)
    job = backend.queue.sync.get_job(result.id)
    assert job is not None
    assert job.name == "django.task.async"
    run_all(backend, result.id)
    assert tasks.aadd.get_result(result.id).return_value == 42


async def test_aenqueue_and_aget_result(backend: ConveyorBackend) -> None:
    result = await tasks.add.aenqueue(4, 5)
    read = await tasks.add.aget_result(result.id)
    assert (read.id, read.status, read.args) == (result.id, TaskResultStatus.READY, [4, 5])
    await backend.queue.start()  # TaskQueue.start: every queue of QUEUES
    job = await backend.queue.wait(result.id, timeout=10)
    await backend.queue.stop()
    assert job.status is JobStatus.COMPLETED
    await read.arefresh()
    assert read.return_value == 9


async def test_aenqueue_sends_task_enqueued_as_asend_does(
    backend: ConveyorBackend, caplog: pytest.LogCaptureFixture
) -> None:
    loop_thread = threading.get_ident()
    threads: dict[str, int] = {}

    class Where(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "enqueued" in record.getMessage():
                threads["log"] = threading.get_ident()

    def plain(sender: Any, task_result: Any, **kwargs: Any) -> None:
        threads["plain"] = threading.get_ident()

    async def coroutine(sender: Any, task_result: Any, **kwargs: Any) -> None:
        threads["coroutine"] = threading.get_ident()

    logger = logging.getLogger(FRAMEWORK)
    where = Where(logging.DEBUG)
    logger.addHandler(where)
    try:
        with caplog.at_level(logging.DEBUG, logger=FRAMEWORK):
            # Only the framework's logging receiver: called on the loop, no thread hop.
            await tasks.add.aenqueue(1, 2)
            assert threads == {"log": loop_thread}
            task_enqueued.connect(plain)
            task_enqueued.connect(coroutine)
            try:
                await tasks.add.aenqueue(3, 4)
            finally:
                task_enqueued.disconnect(plain)
                task_enqueued.disconnect(coroutine)
    finally:
        logger.removeHandler(where)
    # Other receivers: asend's way, plain ones on another thread, coroutines awaited.
    assert threads["coroutine"] == loop_thread
    assert threads["plain"] != loop_thread
    assert threads["log"] == threads["plain"]


def test_unknown_ids_other_jobs_and_other_tasks_are_told_apart(backend: ConveyorBackend) -> None:
    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result("01JQ0000000000000000000000")
    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result("not an id")
    backend.queue.register("other", lambda job: None)
    other = backend.queue.sync.enqueue("other", {})  # a job, but no task's
    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result(other)
    result = tasks.add.enqueue(1, 2)
    with pytest.raises(Exception, match="does not match"):
        tasks.send.get_result(result.id)


def test_a_cancelled_job_is_a_failed_task(backend: ConveyorBackend) -> None:
    result = tasks.add.enqueue(1, 2)
    assert backend.queue.sync.cancel(result.id)
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class_path == "conveyor.errors.JobCancelledError"


def test_every_conveyor_status_has_a_django_status() -> None:
    assert set(STATUS) == set(JobStatus)
    expected = {"pending": "READY", "scheduled": "READY", "processing": "RUNNING",
                "completed": "SUCCESSFUL", "failed": "FAILED", "cancelled": "FAILED"}  # fmt: skip
    now = datetime.now(UTC)
    for status in JobStatus:
        job = Job(id="01JQ0000000000000000000000", name="django.task", queue="default",
                  payload={"task": "djapp.tasks.add", "args": [1], "kwargs": {}, "priority": 0},
                  status=status, config=JobConfig(), attempts=1, created_at=now,
                  error="ValueError: x" if status is JobStatus.FAILED else None)  # fmt: skip
        result = task_result(job, tasks.add, "default")
        assert result.status == expected[status.value]
        assert result.is_finished == status.is_finished
    failed = task_result(
        Job(id="01JQ0000000000000000000000", name="django.task", queue="default",
            payload={"args": [], "kwargs": {}}, status=JobStatus.FAILED, config=JobConfig(),
            error="worker lost: lease expired"),
        tasks.add, "default",
    )  # fmt: skip
    assert failed.errors[0].exception_class_path == "conveyor.errors.ConveyorError"


def test_djangos_signals_are_sent(backend: ConveyorBackend) -> None:
    seen: list[tuple[str, str, Any]] = []

    def note(kind: str) -> Any:
        def receiver(sender: Any, task_result: Any, **kwargs: Any) -> None:
            seen.append((kind, task_result.id, task_result.status))

        return receiver

    receivers = {signal: note(kind) for kind, signal in
                 (("enqueued", task_enqueued), ("started", task_started),
                  ("finished", task_finished))}  # fmt: skip
    for signal, receiver in receivers.items():
        signal.connect(receiver)
    try:
        result = tasks.add.enqueue(1, 1)
        run_all(backend, result.id)
    finally:
        for signal, receiver in receivers.items():
            signal.disconnect(receiver)
    assert [(kind, status) for kind, _, status in seen] == [
        ("enqueued", "READY"), ("started", "RUNNING"), ("finished", "SUCCESSFUL")
    ]  # fmt: skip
    assert {job_id for _, job_id, _ in seen} == {result.id}


def test_what_the_backend_cannot_run_is_refused(backend: ConveyorBackend) -> None:
    assert backend.supports_defer
    assert backend.supports_async_task
    assert backend.supports_priority
    assert backend.supports_get_result
    with pytest.raises(InvalidTask, match="Queue 'reports'"):
        tasks.add.using(queue_name="reports")
    with pytest.raises(InvalidTask, match="aware"):
        tasks.add.using(run_after=datetime(2030, 1, 1))


def test_results_need_a_shared_store_for_supports_get_result() -> None:
    with tasks_on("memory://") as made:
        assert made.supports_get_result is False


def test_the_backends_of_every_thread_share_one_queue(backend: ConveyorBackend) -> None:
    # Django makes a backend object per thread; a store (and its threads) per thread
    # would pile up in a threaded web server, and two SQLite stores on one file in one
    # process lose each other's locks.
    import threading

    from conveyor.contrib.django.compat import task_backends

    seen: list[Any] = []

    def in_a_thread() -> None:
        seen.append(task_backends["default"])
        seen.append(tasks.add.enqueue(1, 1).id)

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    other, job_id = seen
    assert other is not backend
    assert other.queue is backend.queue
    assert backend.queue.sync.get_job(job_id) is not None
