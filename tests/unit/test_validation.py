"""Bad input is refused before anything is stored, with an error that names the problem."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from conveyor import (
    ConfigurationError,
    ConveyorError,
    HandlerRegistrationError,
    InvalidJobError,
    Queue,
    QueueStats,
    SerializationError,
    UnknownJobError,
    create_queue,
)
from conveyor.stores.memory import MemoryStore


@pytest.fixture
async def queue() -> AsyncIterator[Queue]:
    """A memory queue with one handler, ``job``."""
    q = create_queue(url="memory://")
    q.register("job", lambda job: None)
    try:
        yield q
    finally:
        await q.close()


BAD_OPTIONS: list[tuple[dict[str, Any], type[ConveyorError], str]] = [
    ({"delay": -1}, InvalidJobError, "delay must be zero or more"),
    ({"delay": math.nan}, InvalidJobError, "delay must be a finite"),
    ({"delay": math.inf}, InvalidJobError, "delay must be a finite"),
    ({"delay": timedelta(seconds=-5)}, InvalidJobError, "delay must be zero or more"),
    ({"delay": "soon"}, InvalidJobError, "delay must be seconds"),
    ({"timeout": -1}, InvalidJobError, "timeout must be more than zero"),
    ({"timeout": 0}, InvalidJobError, "timeout must be more than zero"),
    ({"timeout": math.nan}, InvalidJobError, "timeout must be a finite"),
    ({"timeout": -math.inf}, InvalidJobError, "timeout must be a finite"),
    ({"max_retries": -1}, InvalidJobError, "max_retries must be a whole number"),
    ({"max_retries": 1.5}, InvalidJobError, "max_retries must be a whole number"),
    ({"max_retries": True}, InvalidJobError, "max_retries must be a whole number"),
    ({"max_retries": "3"}, InvalidJobError, "max_retries must be a whole number"),
    ({"retry_delay": -0.5}, InvalidJobError, "retry_delay must be zero or more"),
    ({"priority": 5}, InvalidJobError, "priority must be one of LOW"),
    ({"priority": -1}, InvalidJobError, "priority must be one of LOW"),
    ({"priority": "high"}, InvalidJobError, "priority must be a JobPriority"),
    ({"priority": True}, InvalidJobError, "priority must be a JobPriority"),
    ({"scheduled_at": datetime(2030, 1, 1)}, InvalidJobError, "timezone-aware"),
    ({"scheduled_at": "tomorrow"}, InvalidJobError, "scheduled_at must be a datetime"),
    ({"scheduled_at": -5}, InvalidJobError, "scheduled_at must be a finite epoch"),
    ({"scheduled_at": math.nan}, InvalidJobError, "scheduled_at must be a finite epoch"),
    ({"scheduled_at": 2e9, "delay": 1}, InvalidJobError, "either scheduled_at or delay"),
    ({"queue": 5}, InvalidJobError, "queue must be a string"),
    ({"colour": "red"}, InvalidJobError, "unknown job option"),
]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    BAD_OPTIONS,
    ids=[f"{next(iter(o))}={next(iter(o.values()))!r}" for o, _, _ in BAD_OPTIONS],
)
async def test_a_bad_option_is_refused_and_nothing_stored(
    queue: Queue, options: dict[str, Any], error: type[ConveyorError], message: str
) -> None:
    with pytest.raises(error, match=message) as caught:
        await queue.enqueue("job", {"ok": True}, **options)
    assert isinstance(caught.value, ConveyorError)
    with pytest.raises(error, match=message):
        await queue.enqueue_many([("job", 1), ("job", 2, options)])
    assert await queue.get_stats() == QueueStats()


@pytest.mark.parametrize(
    ("delay", "message"),
    [(-1, "delay must be zero or more"), (math.nan, "finite"), (None, "delay must be seconds")],
)
async def test_schedule_refuses_a_bad_delay(queue: Queue, delay: object, message: str) -> None:
    with pytest.raises(InvalidJobError, match=message):
        await queue.schedule("job", None, delay)  # type: ignore[arg-type]
    assert await queue.get_stats() == QueueStats()


async def test_an_unserialisable_payload_is_refused(queue: Queue) -> None:
    with pytest.raises(SerializationError, match="not JSON-serialisable"):
        await queue.enqueue("job", {"when": datetime.now})
    assert await queue.get_stats() == QueueStats()


async def test_an_unknown_job_name_is_refused_where_handlers_are_registered(
    queue: Queue,
) -> None:
    with pytest.raises(UnknownJobError, match=r"no handler registered for job name 'sned-email'"):
        await queue.enqueue("sned-email", {})
    assert await queue.get_stats() == QueueStats()


async def test_a_producer_without_handlers_enqueues_any_name() -> None:
    producer = create_queue(url="memory://")
    try:
        job_id = await producer.enqueue("runs-elsewhere", {"x": 1})
        job = await producer.get_job(job_id)
        assert job is not None
        assert job.name == "runs-elsewhere"
    finally:
        await producer.close()


@pytest.mark.parametrize("name", ["", None, 42, "x" * 201])
async def test_a_bad_job_name_is_refused(name: object) -> None:
    producer = create_queue(url="memory://")
    try:
        with pytest.raises(InvalidJobError, match="job name must be a non-empty string"):
            await producer.enqueue(name, None)  # type: ignore[arg-type]
    finally:
        await producer.close()


def test_registering_a_name_twice_is_refused() -> None:
    queue = create_queue(url="memory://")

    def first(job: object) -> None: ...

    queue.register("send-email", first)
    with pytest.raises(HandlerRegistrationError, match="'send-email' is already registered"):
        queue.register("send-email", lambda job: None)
    with pytest.raises(HandlerRegistrationError, match="'send-email' is already registered"):

        @queue.handler("send-email")
        def again(job: object) -> None: ...

    handler = queue.handlers.get("send-email")
    assert handler is not None
    assert handler.func is first


@pytest.mark.parametrize("handler", [None, 42, "module:function"])
def test_a_handler_that_is_not_callable_is_refused(handler: object) -> None:
    queue = create_queue(url="memory://")
    with pytest.raises(HandlerRegistrationError, match="must be callable"):
        queue.register("job", handler)  # type: ignore[arg-type]
    assert "job" not in queue.handlers


@pytest.mark.parametrize(
    ("defaults", "message"),
    [
        ({"max_retries": -1}, "max_retries"),
        ({"priority": 7}, "priority"),
        ({"timeout": 0}, "timeout"),
        ({"colour": "red"}, "unknown job option"),
        ({"run_in": "gpu"}, "run_in"),
    ],
)
def test_bad_handler_defaults_are_refused(defaults: dict[str, Any], message: str) -> None:
    queue = create_queue(url="memory://")
    with pytest.raises(HandlerRegistrationError, match=message):
        queue.register("job", lambda job: None, **defaults)


def test_run_in_process_is_for_plain_functions() -> None:
    queue = create_queue(url="memory://")

    async def coroutine(job: object) -> None: ...

    with pytest.raises(HandlerRegistrationError, match="plain functions"):
        queue.register("job", coroutine, run_in="process")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"workers": 0}, "workers"),
        ({"workers": -1}, "workers"),
        ({"workers": True}, "workers"),
        ({"workers": 1.5}, "workers"),
        ({"name": ""}, "queue name"),
        ({"name": "q" * 201}, "at most 200 characters"),
        ({"lease": 0}, "lease"),
        ({"lease": -1}, "lease"),
        ({"lease": math.nan}, "lease"),
    ],
)
def test_bad_queue_options_are_configuration_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        create_queue(url="memory://", **options)


def test_a_queue_made_directly_checks_its_name_too() -> None:
    with pytest.raises(ConfigurationError, match="at most 200 characters"):
        Queue(MemoryStore(), name="q" * 201)
    assert Queue(MemoryStore(), name="q" * 200).name == "q" * 200


async def test_listing_refuses_a_bad_status_or_page(queue: Queue) -> None:
    with pytest.raises(InvalidJobError, match="unknown job status 'done'"):
        await queue.get_jobs_by_status("done")
    with pytest.raises(InvalidJobError, match="limit"):
        await queue.get_jobs_by_status("pending", limit=-1)
    with pytest.raises(InvalidJobError, match="offset"):
        await queue.get_jobs_by_status("pending", offset=True)


async def test_wait_refuses_a_bad_timeout(queue: Queue) -> None:
    job_id = await queue.enqueue("job")
    with pytest.raises(InvalidJobError, match="timeout"):
        await queue.wait(job_id, timeout=-1)


async def test_stop_with_a_bad_timeout_leaves_the_worker_running(queue: Queue) -> None:
    await queue.start()
    with pytest.raises(InvalidJobError, match="timeout"):
        await queue.stop(timeout=-1)
    assert queue.is_running
    job = await queue.wait(await queue.enqueue("job"), timeout=5)
    assert job.status == "completed"
    await queue.stop(timeout=1)
    assert not queue.is_running


@pytest.mark.parametrize("concurrency", [0, -2, True])
async def test_start_refuses_a_bad_concurrency(queue: Queue, concurrency: int) -> None:
    with pytest.raises(ConfigurationError, match="workers"):
        await queue.start(concurrency=concurrency)
    assert not queue.is_running
