"""Serialisers: strict JSON by default; what cannot be stored is refused before storing."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import pytest

from conveyor import (
    ConveyorError,
    JobStatus,
    JSONSerializer,
    QueueStats,
    SerializationError,
    create_queue,
)


def circular() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


UNSERIALISABLE = {
    "set": {1, 2},
    "nested-set": {"tags": {"a"}},
    "nan": math.nan,
    "inf": math.inf,
    "nested-inf": [1, {"x": -math.inf}],
    "object": object(),
    "bytes": b"raw",
    "datetime": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    "circular": circular(),
}


def test_json_round_trips_json_types() -> None:
    value = {"s": "héllo ✓", "i": 1, "f": 1.5, "b": True, "n": None, "l": [1, [2, {"x": []}]]}
    serializer = JSONSerializer()
    data = serializer.dumps(value)
    assert isinstance(data, bytes)
    assert serializer.loads(data) == value
    assert json.loads(data) == value  # plain JSON any tool can read


@pytest.mark.parametrize("value", list(UNSERIALISABLE.values()), ids=list(UNSERIALISABLE))
def test_what_json_cannot_hold_is_a_serialization_error(value: object) -> None:
    with pytest.raises(SerializationError, match="not JSON-serialisable"):
        JSONSerializer().dumps(value)


def test_serialization_error_is_a_conveyor_error_and_a_type_error() -> None:
    assert issubclass(SerializationError, ConveyorError)
    assert issubclass(SerializationError, TypeError)


@pytest.mark.parametrize("data", [b"{not json", b"\xff\xfe", b"[1,", b""])
def test_bad_stored_data_is_a_serialization_error(data: bytes) -> None:
    with pytest.raises(SerializationError, match="not valid JSON"):
        JSONSerializer().loads(data)


@pytest.mark.parametrize("name", ["set", "nan", "object", "circular"])
async def test_an_unserialisable_payload_is_refused_and_nothing_stored(name: str) -> None:
    queue = create_queue(url="memory://")
    added: list[object] = []
    queue.on("job:added", added.append)
    with pytest.raises(SerializationError):
        await queue.enqueue("job", UNSERIALISABLE[name])
    with pytest.raises(SerializationError):
        await queue.schedule("job", {"payload": UNSERIALISABLE[name]}, 10)
    assert await queue.get_stats() == QueueStats()
    assert added == []
    await queue.close()


async def test_a_configured_serializer_is_used_both_ways() -> None:
    class SetsAsLists(JSONSerializer):
        def dumps(self, value: Any) -> bytes:
            if isinstance(value, set):
                value = {"__set__": sorted(value)}
            return super().dumps(value)

        def loads(self, data: bytes) -> Any:
            value = super().loads(data)
            if isinstance(value, dict) and "__set__" in value:
                return set(value["__set__"])
            return value

    queue = create_queue(url="memory://", serializer=SetsAsLists())
    queue.register("job", lambda job: job.payload | {4})
    await queue.start()
    job = await queue.wait(await queue.enqueue("job", {1, 2, 3}), timeout=5)
    assert (job.status, job.payload, job.result) == (JobStatus.COMPLETED, {1, 2, 3}, {1, 2, 3, 4})
    await queue.close()


async def test_an_unserialisable_result_fails_the_attempt_clearly() -> None:
    queue = create_queue(url="memory://")
    queue.register("job", lambda job: {"when": dt.datetime.now(dt.UTC)}, max_retries=0)
    await queue.start()
    job = await queue.wait(await queue.enqueue("job"), timeout=5)
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert job.error.startswith("SerializationError:")
    assert job.result is None
    await queue.close()


def test_stored_nan_is_refused_on_read() -> None:
    from conveyor.serializers import JSON

    with pytest.raises(SerializationError, match="NaN is not valid JSON"):
        JSON.loads(b'{"x": NaN}')
