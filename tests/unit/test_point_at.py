"""``Queue.point_at``: another store or queue name for a queue made already."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor import ConfigurationError, create_queue


async def noop(job: object) -> None:
    return None


async def test_a_new_name_takes_the_next_enqueues_there_even_after_plain_ones() -> None:
    queue = create_queue(url="memory://", name="first")
    queue.register("noop", noop)
    async with queue:
        before = await queue.enqueue("noop", {})  # its settings are worked out once, here
        queue.point_at(name="second")
        after = await queue.enqueue("noop", {})
        [many] = await queue.enqueue_many([("noop", {})])
        assert (await queue.get_job(before)).queue == "first"  # type: ignore[union-attr]
        assert (await queue.get_job(after)).queue == "second"  # type: ignore[union-attr]
        assert (await queue.get_job(many)).queue == "second"  # type: ignore[union-attr]
        assert queue.name == "second"


async def test_a_url_gives_the_queue_a_store_of_that_url(tmp_path: Path) -> None:
    queue = create_queue(url="memory://")
    queue.register("noop", noop)
    queue.point_at(f"sqlite:///{tmp_path}/other.db")
    assert queue.url == f"sqlite:///{tmp_path}/other.db"
    async with queue:
        job_id = await queue.enqueue("noop", {})
    async with create_queue(url=f"sqlite:///{tmp_path}/other.db") as reader:
        assert await reader.get_job(job_id) is not None


async def test_a_running_queue_is_not_moved() -> None:
    queue = create_queue(url="memory://", name="here")
    queue.register("noop", noop)
    async with queue:
        await queue.start()
        with pytest.raises(ConfigurationError, match="running"):
            queue.point_at(name="elsewhere")
        assert queue.name == "here"


def test_a_bad_name_or_url_is_refused_and_changes_nothing() -> None:
    queue = create_queue(url="memory://", name="here")
    with pytest.raises(ConfigurationError):
        queue.point_at("nosuch://x")
    with pytest.raises(ConfigurationError):
        queue.point_at(name="")
    assert (queue.name, queue.url) == ("here", "memory://")
