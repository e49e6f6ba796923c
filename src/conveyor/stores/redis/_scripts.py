"""The Lua scripts: one file per atomic operation, loaded once and called by SHA.

Each script is sent with the definitions of ``lua/_common.lua`` it uses, not all of
them: the server runs a script's whole text at every call, and creating the closures
and tables of the unused ones cost about a quarter of an enqueue's time on the server.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from importlib import resources
from typing import Any

from redis.exceptions import NoScriptError

from ._codec import Arg
from ._conn import Connections


class Script:
    """One script of ``lua/``, with ``lua/_common.lua`` in front of it."""

    def __init__(self, name: str) -> None:
        body = (resources.files(__package__) / "lua" / f"{name}.lua").read_text()
        self.name = name
        self.source = with_definitions(body, _common_definitions())
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


_DEFINITION = re.compile(r"^local (?:function )?([A-Za-z_]\w*)")
_NAME = re.compile(r"[A-Za-z_]\w*")
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


@cache
def _common_definitions() -> tuple[tuple[str, str], ...]:
    return split_definitions((resources.files(__package__) / "lua" / "_common.lua").read_text())


def split_definitions(source: str) -> tuple[tuple[str, str], ...]:
    """Split a Lua file into its top-level ``local`` definitions: ``(name, text)`` pairs.

    A definition runs from its ``local`` line (with the comment lines just above it) to
    the next one; what comes before the first (the file's header comment) is left out.
    """
    definitions: list[tuple[str, list[str]]] = []
    comments: list[str] = []
    for line in source.splitlines(keepends=True):
        match = _DEFINITION.match(line)
        if match:
            definitions.append((match.group(1), [*comments, line]))
            comments = []
        elif line.startswith("--"):
            comments.append(line)  # it belongs to the next definition if one follows
        else:
            if definitions:
                definitions[-1][1].extend([*comments, line])
            comments = []
    return tuple((name, "".join(lines)) for name, lines in definitions)


def with_definitions(body: str, definitions: tuple[tuple[str, str], ...]) -> str:
    """Return ``body`` after the ``definitions`` it uses, directly or through others.

    A name is taken as used wherever it appears outside comments and string literals
    (no script looks a definition up by a name it computes).
    """
    text_of = dict(definitions)
    wanted: set[str] = set()
    names = _names(body)
    while names:
        name = names.pop()
        if name in text_of and name not in wanted:
            wanted.add(name)
            names |= _names(text_of[name])
    kept = [text for name, text in definitions if name in wanted]
    return "".join(kept) + "\n" + body


def _names(lua: str) -> set[str]:
    code = "\n".join(line.split("--", 1)[0] for line in lua.splitlines())
    return set(_NAME.findall(_STRING.sub("''", code)))


ENQUEUE = Script("enqueue")
ENQUEUE_MANY = Script("enqueue_many")
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
ALL = (ENQUEUE, ENQUEUE_MANY, ENQUEUE_UNIQUE, CLAIM, RENEW, SETTLE, RECOVER, CANCEL, RETRY,
       PROGRESS, LIST, STATS, CLEAR, NEXT_DUE, SCHEDULE_SAVE, SCHEDULE_FIRE, SCHEDULE_PAUSE,
       PEEK, STEER, WORKER_BEAT, WORKER_LIST, SLOT_ACQUIRE, SLOT_RELEASE, RATE_TAKE,
       AGE)  # fmt: skip
