"""The Redis store's own connections: replies read off the socket, errors, losses, cancels."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from redis.exceptions import ConnectionError, NoScriptError, ResponseError

from conveyor.stores.redis import RedisStore
from conveyor.stores.redis._conn import Connections, connect
from conveyor.stores.redis._packing import pack_command
from servers import REDIS, namespace_on
from testkit import job_record, unique_name


@pytest.fixture
def url() -> Iterator[str]:
    with namespace_on(REDIS) as url:
        yield url


@pytest.fixture
async def connections(url: str) -> AsyncIterator[Connections]:
    made = Connections(RedisStore(url)._new_pool().make_connection)
    yield made
    await made.aclose()


def key(url: str, name: str) -> str:
    """A key under the test's prefix (removed with it)."""
    prefix = parse_qs(urlsplit(url).query)["prefix"][0]
    return f"{{{prefix}}}:{name}"


def admin() -> redis.Redis:
    return redis.Redis.from_url(REDIS)


async def blocked(
    connections: Connections, url: str, seconds: str
) -> tuple[int, asyncio.Task[object]]:
    """The id of the connection a BLPOP of ``seconds`` now blocks on, and its task."""
    first = await connections.execute("CLIENT", "ID")
    task = asyncio.create_task(connections.execute("BLPOP", key(url, "bell"), seconds))
    await asyncio.sleep(0.1)
    return first, task


def kill(client_id: int) -> None:
    with admin() as client:
        client.client_kill_filter(_id=client_id)


async def test_replies_come_back_whole_and_in_their_own_types(
    url: str, connections: Connections
) -> None:
    big = b"x" * 3_000_000  # many reads of the socket for one reply
    assert await connections.execute("SET", key(url, "big"), big) == b"OK"
    assert await connections.execute("GET", key(url, "big")) == big
    assert await connections.execute("RPUSH", key(url, "list"), 1, 2) == 2
    assert await connections.execute("LRANGE", key(url, "list"), 0, -1) == [b"1", b"2"]
    assert await connections.execute("GET", key(url, "absent")) is None


async def test_an_error_reply_raises_and_the_connection_serves_the_next_command(
    connections: Connections,
) -> None:
    first = await connections.execute("CLIENT", "ID")
    with pytest.raises(NoScriptError):
        await connections.execute("EVALSHA", "0" * 40, 0)
    with pytest.raises(ResponseError, match="unknown command"):
        await connections.execute("NO-SUCH-COMMAND")
    assert await connections.execute("CLIENT", "ID") == first


async def test_a_connection_the_server_closed_while_idle_is_replaced(
    connections: Connections,
) -> None:
    first = await connections.execute("CLIENT", "ID")
    kill(first)
    await asyncio.sleep(0.05)  # the close reaches this process
    second = await connections.execute("CLIENT", "ID")
    assert second != first
    assert await connections.execute("CLIENT", "ID") == second


async def test_a_connection_lost_mid_command_retries_once_on_a_fresh_one(
    url: str, connections: Connections
) -> None:
    first, task = await blocked(connections, url, "0.5")
    kill(first)
    assert await asyncio.wait_for(task, 5) is None  # the retried BLPOP timed out
    assert await connections.execute("CLIENT", "ID") not in (first, None)


async def test_a_connection_that_receives_what_nobody_asked_for_is_not_used_again(
    url: str, connections: Connections
) -> None:
    channel = key(url, "channel")
    first = await connections.execute("CLIENT", "ID")
    await connections.execute("SUBSCRIBE", channel)  # its messages come unasked
    with admin() as client:
        assert client.publish(channel, "unasked") == 1
    await asyncio.sleep(0.05)
    assert await connections.execute("ECHO", "mine") == b"mine"
    assert await connections.execute("CLIENT", "ID") != first


async def test_a_link_reads_every_reply_of_a_pipeline(url: str) -> None:
    busy: set[object] = set()
    link = await connect(RedisStore(url)._new_pool().make_connection, busy)
    try:
        big = b"y" * 3_000_000
        commands = [("SET", key(url, "big"), big), ("NO-SUCH-COMMAND",), ("GET", key(url, "big"))]
        replies = await link.send(b"".join(pack_command(c) for c in commands), 3)
        assert replies[0] == b"OK"
        assert isinstance(replies[1], ResponseError)
        assert replies[2] == big
        assert await link.send(pack_command(("ECHO", "next"))) == b"next"
        assert busy == set()
    finally:
        link.close()


async def test_a_server_that_is_gone_is_a_connection_error(url: str) -> None:
    gone = Connections(RedisStore("redis://127.0.0.1:1/0")._new_pool().make_connection)
    with pytest.raises(ConnectionError):
        await gone.execute("PING")


async def test_a_cancelled_command_closes_its_connection(
    url: str, connections: Connections
) -> None:
    first, task = await blocked(connections, url, "5")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.05)
    with admin() as client:
        assert first not in [c["id"] for c in client.client_list()]
    assert await connections.execute("CLIENT", "ID") != first


async def test_closing_closes_the_idle_connections(connections: Connections) -> None:
    first = await connections.execute("CLIENT", "ID")
    await connections.aclose()
    await asyncio.sleep(0.05)
    with admin() as client:
        assert first not in [c["id"] for c in client.client_list()]


async def test_a_store_at_work_warns_about_nothing(url: str) -> None:
    # redis-py warned, once per connection pool, that a synchronous Retry was passed to
    # an asyncio client: printed by every process that opened a Redis store.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = RedisStore(url)
        try:
            await store.open()
            await store.enqueue([job_record(unique_name("job"), "q")])
            assert len(await store.claim(["q"], 1, "worker-1", 30.0)) == 1
            assert await store.wait_for_work(["q"], 1, "worker-1", 30.0, 0.05, 0) == []
        finally:
            await store.close()
    assert [str(w.message) for w in caught] == []
