"""The Lua scripts: one file per atomic operation, loaded once and called by SHA."""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Any

from redis.exceptions import NoScriptError

from ._codec import Arg
from ._conn import Connections


class Script:
    """One script of ``lua/``, with ``lua/_common.lua`` in front of it."""

    def __init__(self, name: str) -> None:
        folder = resources.files(__package__) / "lua"
        common = (folder / "_common.lua").read_text()
        self.name = name
        self.source = common + "\n" + (folder / f"{name}.lua").read_text()
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()

    async def __call__(self, client: Connections, tag: str, args: list[Arg]) -> Any:
        """Run the script (EVALSHA), loading it first if the server does not know it.

        A server that restarted or ran ``SCRIPT FLUSH`` answers NOSCRIPT: load and retry.
        """
        try:
            return await client.execute("EVALSHA", self.sha, 1, tag, *args)
        except NoScriptError:
            await client.execute("SCRIPT", "LOAD", self.source)
            return await client.execute("EVALSHA", self.sha, 1, tag, *args)


ENQUEUE = Script("enqueue")
ENQUEUE_UNIQUE = Script("enqueue_unique")
SLOT_ACQUIRE = Script("slot_acquire")
SLOT_RELEASE = Script("slot_release")
RATE_TAKE = Script("rate_take")
AGE = Script("age")
CLAIM = Script("claim")
RENEW = Script("renew")
SETTLE = Script("settle")
RECOVER = Script("recover")
CANCEL = Script("cancel")
RETRY = Script("retry")
PROGRESS = Script("progress")
LIST = Script("list")
STATS = Script("stats")
CLEAR = Script("clear")
NEXT_DUE = Script("next_due")
SCHEDULE_SAVE = Script("schedule_save")
SCHEDULE_FIRE = Script("schedule_fire")
SCHEDULE_PAUSE = Script("schedule_pause")
PEEK = Script("peek")
STEER = Script("steer")
WORKER_BEAT = Script("worker_beat")
WORKER_LIST = Script("worker_list")
ALL = (ENQUEUE, ENQUEUE_UNIQUE, CLAIM, RENEW, SETTLE, RECOVER, CANCEL, RETRY, PROGRESS, LIST,
       STATS, CLEAR, NEXT_DUE, SCHEDULE_SAVE, SCHEDULE_FIRE, SCHEDULE_PAUSE, PEEK, STEER,
       WORKER_BEAT, WORKER_LIST, SLOT_ACQUIRE, SLOT_RELEASE, RATE_TAKE,
       AGE)  # fmt: skip
