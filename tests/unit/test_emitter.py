"""The event emitter: plain and async callbacks, errors logged, never raised."""

from __future__ import annotations

import asyncio
import logging

import pytest

from conveyor import ConfigurationError, create_queue
from conveyor.events import EventEmitter


def test_callbacks_get_the_data_in_registration_order() -> None:
    emitter = EventEmitter()
    calls: list[tuple[str, object]] = []
    emitter.on("job:completed", lambda data: calls.append(("first", data)))
    emitter.on("job:completed", lambda data: calls.append(("second", data)))
    emitter.on("job:failed", lambda data: calls.append(("other", data)))
    emitter.emit("job:completed", 42)
    assert calls == [("first", 42), ("second", 42)]
    emitter.emit("nobody:listens", 1)
    assert len(calls) == 2


def test_off_removes_one_callback_or_all() -> None:
    emitter = EventEmitter()
    calls: list[str] = []

    def a(data: object) -> None:
        calls.append("a")

    def b(data: object) -> None:
        calls.append("b")

    emitter.on("e", a)
    emitter.on("e", b)
    assert emitter.has_listeners("e")
    emitter.off("e", a)
    emitter.emit("e")
    assert calls == ["b"]
    emitter.off("e", a)  # not registered: nothing happens
    emitter.off("e")
    emitter.emit("e")
    assert calls == ["b"]
    assert not emitter.has_listeners("e")
    emitter.off("never-registered")


def test_a_raising_callback_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    emitter = EventEmitter()
    calls: list[object] = []

    def broken(data: object) -> None:
        raise ValueError("listener bug")

    emitter.on("e", broken)
    emitter.on("e", calls.append)
    with caplog.at_level(logging.ERROR, logger="conveyor.events"):
        emitter.emit("e", "data")
    assert calls == ["data"]
    [record] = [r for r in caplog.records if r.name == "conveyor.events"]
    assert "'e'" in record.getMessage()
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "listener bug"


async def test_async_callbacks_run_as_tasks_and_drain_waits_for_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    emitter = EventEmitter()
    done: list[object] = []
    release = asyncio.Event()

    async def slow(data: object) -> None:
        await release.wait()
        done.append(data)

    async def broken(data: object) -> None:
        raise ValueError("async listener bug")

    emitter.on("e", slow)
    emitter.on("e", broken)
    with caplog.at_level(logging.ERROR, logger="conveyor.events"):
        emitter.emit("e", 1)  # returns at once: the callbacks are tasks
        assert done == []
        release.set()
        await asyncio.wait_for(emitter.drain(), 5)
    assert done == [1]
    assert any(r.exc_info and str(r.exc_info[1]) == "async listener bug" for r in caplog.records)


def test_an_async_callback_emitted_without_a_loop_still_runs() -> None:
    emitter = EventEmitter()
    done: list[object] = []

    async def callback(data: object) -> None:
        await asyncio.sleep(0)
        done.append(data)

    emitter.on("e", callback)
    emitter.emit("e", "from sync code")
    assert done == ["from sync code"]


@pytest.mark.parametrize(("event", "callback"), [("", print), (None, print), ("e", "print")])
def test_a_bad_event_or_callback_is_a_configuration_error(event: object, callback: object) -> None:
    with pytest.raises(ConfigurationError, match="event"):
        EventEmitter().on(event, callback)  # type: ignore[arg-type]


async def test_queue_on_off_and_emit_use_the_emitter() -> None:
    queue = create_queue(url="memory://")
    seen: list[object] = []
    assert queue.on("custom", seen.append) is queue
    queue.emit("custom", {"x": 1})
    assert queue.off("custom", seen.append) is queue
    queue.emit("custom", {"x": 2})
    assert seen == [{"x": 1}]
    await queue.close()


class _Job:
    def __init__(self, job_id: str) -> None:
        self.id = job_id


def test_events_about_a_held_job_wait_for_its_release_all_but_its_job_added() -> None:
    emitter = EventEmitter()
    seen: list[tuple[str, str]] = []
    for name in ("job:added", "job:started", "job:completed"):
        emitter.on(name, lambda job, name=name: seen.append((name, job.id)))
    held = emitter.hold(["a"])
    emitter.emit("job:started", _Job("a"))
    emitter.emit("job:started", _Job("b"))  # another job: not held
    emitter.emit("job:completed", _Job("a"))
    assert seen == [("job:started", "b")]
    emitter.emit("job:added", _Job("a"))
    emitter.release(held)
    emitter.emit("job:completed", _Job("a"))  # released: no longer held
    assert seen == [
        ("job:started", "b"),
        ("job:added", "a"),
        ("job:started", "a"),
        ("job:completed", "a"),
        ("job:completed", "a"),
    ]
    emitter.release(["never-held"])
    assert len(seen) == 5
