"""Every public coroutine of Queue has its blocking twin on SyncQueue."""

from __future__ import annotations

import inspect

from conveyor import Queue, SyncQueue, create_queue


def public_coroutines(cls: type) -> set[str]:
    return {
        name
        for name, member in inspect.getmembers(cls, inspect.iscoroutinefunction)
        if not name.startswith("_")
    }


def test_every_public_coroutine_has_a_sync_twin() -> None:
    coroutines = public_coroutines(Queue)
    assert {"enqueue", "enqueue_many", "schedule", "get_job", "wait", "start", "stop"} <= (
        coroutines
    )
    twins = {
        name for name, member in inspect.getmembers(SyncQueue, callable) if not name.startswith("_")
    }
    assert coroutines <= twins, f"no sync twin for {sorted(coroutines - twins)}"
    assert twins <= coroutines, f"sync methods without a coroutine: {sorted(twins - coroutines)}"
    for name in coroutines:
        twin = getattr(SyncQueue, name)
        assert not inspect.iscoroutinefunction(twin), name
        assert twin.__wrapped__ is getattr(Queue, name), name
        assert inspect.signature(twin) == inspect.signature(getattr(Queue, name)), name
        assert twin.__doc__
        assert f"Queue.{name}" in twin.__doc__


def test_queue_sync_is_one_sync_queue_per_queue() -> None:
    queue = create_queue(url="memory://")
    assert isinstance(queue.sync, SyncQueue)
    assert queue.sync is queue.sync
    assert create_queue(url="memory://").sync is not queue.sync


def test_sync_close_ends_the_portal_thread() -> None:
    queue = create_queue(url="memory://")
    queue.sync.get_stats()
    thread = queue.sync.portal._thread
    assert thread is not None
    assert thread.is_alive()
    queue.sync.close()
    assert not thread.is_alive()
    assert queue.sync.get_stats().total == 0  # usable again: a new portal starts
    queue.sync.close()
