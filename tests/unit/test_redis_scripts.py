"""How the Redis scripts are put together: each carries the shared definitions it uses."""

from __future__ import annotations

import redis

from conveyor.stores.redis import _codec as redis_codec
from conveyor.stores.redis import _scripts as lua
from servers import REDIS, require

COMMON = """-- header, left out

local P = KEYS[1]
local function job_key(id) return P .. ':job:' .. id end

-- moves a job (this comment goes with it)
local function move(id)
  redis.call('DEL', job_key(id))
end
local UNUSED = {}
"""


def test_a_script_gets_the_definitions_it_uses_and_those_they_use() -> None:
    source = lua.with_definitions("move(ARGV[1])\n", lua.split_definitions(COMMON))
    assert "local P = KEYS[1]" in source
    assert "local function job_key" in source
    assert "-- moves a job (this comment goes with it)\nlocal function move" in source
    assert "UNUSED" not in source
    assert "header" not in source
    assert source.index("local P") < source.index("job_key") < source.index("move(ARGV[1])")


def test_a_name_in_a_comment_brings_in_nothing() -> None:
    source = lua.with_definitions("-- move\nreturn 1\n", lua.split_definitions(COMMON))
    assert source == "\n-- move\nreturn 1\n"


def test_a_name_in_a_string_brings_in_nothing() -> None:
    body = "redis.call('DEL', P .. ':move:' .. \"UNUSED\")\n"
    source = lua.with_definitions(body, lua.split_definitions(COMMON))
    assert "local P = KEYS[1]" in source
    assert "function move" not in source
    assert "local UNUSED" not in source


def test_the_one_job_enqueue_script_makes_no_event_table() -> None:
    assert "local events" not in lua.ENQUEUE.source
    assert "local events" in lua.ENQUEUE_MANY.source


def test_every_common_definition_is_split_out_by_name() -> None:
    names = [name for name, _ in lua._common_definitions()]
    assert len(names) == len(set(names)) > 10
    assert {"P", "job_key", "publish", "store_jobs"} <= set(names)


def test_the_one_job_enqueue_script_carries_no_batch_machinery() -> None:
    assert "store_jobs" not in lua.ENQUEUE.source
    assert "local function publish" not in lua.ENQUEUE.source
    assert "local function store_jobs" in lua.ENQUEUE_MANY.source


def test_every_script_compiles_on_the_server() -> None:
    require(REDIS)
    client = redis.Redis.from_url(REDIS)
    try:
        for script in lua.ALL:
            assert client.script_load(script.source) == script.sha, script.name
    finally:
        client.close()


def test_the_clients_ready_score_is_the_servers() -> None:
    require(REDIS)
    client = redis.Redis.from_url(REDIS)
    body = "local out = {}\nfor i = 1, #ARGV, 2 do out[#out + 1] = ready_score(ARGV[i], tonumber(ARGV[i + 1])) end\nreturn out\n"  # noqa: E501
    source = lua.with_definitions(body, lua._common_definitions())
    cases = [
        (priority, run_at)
        for priority in (-20, -1, 0, 1, 2, 10, 1000)
        for run_at in (0.0, 1.5, 1795976968.7243798, 1795976968.0000002, 4102444800.123456)
    ]
    try:
        args = [value for case in cases for value in case]
        scores = client.eval(source, 1, "{t}", *args)
    finally:
        client.close()
    assert [float(s) for s in scores] == [redis_codec.ready_score(p, r) for p, r in cases]
