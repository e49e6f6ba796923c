"""Jobs and outcomes to and from script arguments and job hashes.

A job's hash holds what the scripts read or change as fields of their own (queue,
status, priority, max_retries, run_at, attempts, and the state of a running or
finished job), and what never changes after enqueue in one field, ``spec``: a JSON
line of the settings then the payload bytes as they are. Fewer fields make enqueue
and claim cheaper on both ends. Absent fields are ``None``; floats are written with
``repr`` (exact).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from operator import attrgetter
from typing import Any

from ...job import JobStatus
from ..channel import quote_json
from ..records import JobRecord, Outcome

Arg = str | bytes | int | float

SPEC = ("id", "name", "retry_delay", "timeout", "backoff", "created_at", "scheduled_at", "headers")
"""The fields of the ``spec`` line, in order; the payload follows the line. Jobs
stored before ``headers`` was added have one field less (read as ``None``)."""
STATE = ("started_at", "completed_at", "worker_id", "lease_expires_at", "result", "error",
         "traceback", "progress", "progress_message", "unique_key", "unique_until",
         "cancel_requested")  # fmt: skip
"""Fields of a job's hash that are left out while ``None`` (or false)."""


def _text(raw: bytes) -> str:
    return raw.decode()


def _same(raw: bytes) -> bytes:
    return raw


def _true(raw: bytes) -> bool:
    return True


def _status(raw: bytes) -> JobStatus:
    return JobStatus(raw.decode())


_TEXT = ("queue", "worker_id", "error", "traceback", "progress_message", "unique_key")
_FLOAT = ("run_at", "started_at", "completed_at", "lease_expires_at", "progress", "unique_until")
_INT = ("priority", "max_retries", "attempts")
_DECODE: dict[bytes, tuple[str, Callable[[bytes], Any]]] = {
    **{name.encode(): (name, _text) for name in _TEXT},
    **{name.encode(): (name, float) for name in _FLOAT},
    **{name.encode(): (name, int) for name in _INT},
    b"status": ("status", _status),
    b"result": ("result", _same),
    b"cancel_requested": ("cancel_requested", _true),
}


def _number(value: float | None) -> str:
    if value is None:
        return "null"
    if type(value) is int or (type(value) is float and math.isfinite(value)):
        return repr(value)  # what json writes for these, without its encoder's set-up
    return json.dumps(value)


def _text_or_null(value: str | None) -> str:
    return "null" if value is None else quote_json(value)


def spec_line(record: JobRecord, tail: str | None = None) -> str:
    """Return the JSON array of ``record``'s :data:`SPEC` fields (as ``json.dumps`` would).

    ``tail``: the line after the id, if already made (:func:`_spec_tail`).
    """
    return f"[{quote_json(record.id)},{tail or _spec_tail(record)}"


def _spec_tail(record: JobRecord) -> str:
    """Return the spec line after the id (the same for every job of a batch, as a rule)."""
    return (
        f"{_settings_text(record.name, record.retry_delay, record.timeout, record.backoff)}"
        f"{_number(record.created_at)},{_number(record.scheduled_at)},"
        f"{_text_or_null(record.headers)}]"
    )


@lru_cache(maxsize=256, typed=True)
def _settings_text(
    name: str, retry_delay: float, timeout: float | None, backoff: str | None
) -> str:
    """Return the spec line's name and settings, with the comma after (once per set)."""
    return f"{quote_json(name)},{_number(retry_delay)},{_number(timeout)},{_text_or_null(backoff)},"


_tail_key = attrgetter(*SPEC[1:])


_state_of = attrgetter(*STATE)
_NO_STATE = (None,) * (len(STATE) - 1) + (False,)  # cancel_requested is a bool


def many_record_args(records: Iterable[JobRecord]) -> list[Arg]:
    """:func:`record_args` of every record, each distinct spec tail made once."""
    tails: dict[tuple[Any, ...], str] = {}
    args: list[Arg] = []
    for record in records:
        key = _tail_key(record)
        tail = tails.get(key)
        if tail is None:
            tail = tails[key] = _spec_tail(record)
        args += record_args(record, tail)
    return args


def record_args(record: JobRecord, spec_tail: str | None = None) -> list[Arg]:
    """``enqueue.lua``'s arguments for one job (``spec_tail``: its :func:`_spec_tail`)."""
    spec = spec_line(record, spec_tail)
    args: list[Arg] = [
        record.id, record.queue, record.status.value, record.priority, record.max_retries,
        record.run_at, record.attempts, spec.encode() + b"\n" + record.payload, 0,
    ]  # fmt: skip
    state = _state_of(record)
    if state != _NO_STATE:  # a new job has none
        for name, value in zip(STATE, state, strict=True):
            if value is not None and value is not False:
                args += (name, 1 if value is True else value)
        args[8] = (len(args) - 9) // 2
    return args


def ready_score(priority: int, run_at: float) -> float:
    """Return a pending job's score in its queue's ready set, as ``lua/_common.lua`` does.

    Priority bands 2^44 ms apart, ``run_at`` in ms within a band (the same double
    arithmetic as the server's Lua, so the same score).
    """
    return -priority * 17592186044416 + run_at * 1000


def outcome_args(outcome: Outcome) -> list[Arg]:
    """``settle.lua``'s arguments for one outcome."""
    pairs: list[Arg] = []
    for name in ("result", "error", "traceback"):
        value = getattr(outcome, name)
        if value is not None:
            pairs += (name, value)
    status = "postponed" if outcome.postponed else outcome.status.value
    head: list[Arg] = [outcome.job_id, outcome.worker_id, outcome.attempt, status]
    return [*head, outcome.retry_delay, len(pairs) // 2, *pairs]


_read_json = json.JSONDecoder().raw_decode
"""Reads a JSON value from the start of a string; the spec line is conveyor's own, so
``json.loads``'s checks around it (the encoding, the whitespace at either end) are not
needed: about a third of reading a claimed job."""


def _read_spec(raw: bytes) -> tuple[list[Any], bytes]:
    """Return the :data:`SPEC` values of a ``spec`` field, and the payload after them."""
    line, _, payload = raw.partition(b"\n")
    return _read_json(line.decode())[0], payload


def decode_pairs(pairs: Iterable[tuple[bytes, bytes]]) -> JobRecord:
    """Build a job from its hash's field/value pairs."""
    values: dict[str, Any] = {}
    for field, raw in pairs:
        if field == b"spec":
            head, values["payload"] = _read_spec(raw)
            values.update(zip(SPEC, head, strict=False))
        elif (known := _DECODE.get(field)) is not None:
            values[known[0]] = known[1](raw)
    return JobRecord(**values)


CLAIMED = ("spec", "queue", "priority", "max_retries", "run_at", "attempts", "started_at",
           "completed_at", "worker_id", "lease_expires_at", "result", "error", "traceback",
           "unique_key", "unique_until")  # fmt: skip
"""The fields of a claimed job that ``claim.lua`` returns, in this order (``HMGET``):
all but those a claim sets or clears (status, progress and its message, a cancel)."""


def _float_or_none(raw: bytes | None) -> float | None:
    return None if raw is None else float(raw)


def _text_or_none(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode()


def decode_claimed(row: Sequence[Any]) -> JobRecord:
    """Build a job just claimed from its :data:`CLAIMED` values (``None``: absent).

    Positional, so about half the work of :func:`decode_flat` on the hot path. The
    first fields are written at enqueue: never absent.
    """
    (spec, queue, priority, max_retries, run_at, attempts, started_at, completed_at,
     worker_id, lease_expires_at, result, error, traceback, unique_key,
     unique_until) = row  # fmt: skip
    head, payload = _read_spec(spec)
    return JobRecord(
        head[0], queue.decode(), head[1], payload, JobStatus.PROCESSING, int(priority),
        int(max_retries), head[2], head[3], head[4], head[5], float(run_at), head[6],
        int(attempts), _float_or_none(started_at), _float_or_none(completed_at),
        _text_or_none(worker_id), _float_or_none(lease_expires_at), result,
        _text_or_none(error), _text_or_none(traceback), None, None, False,
        head[7] if len(head) > 7 else None, _text_or_none(unique_key),
        _float_or_none(unique_until),
    )  # fmt: skip


def decode_flat(flat: Sequence[bytes]) -> JobRecord:
    """Build a job from a flat ``HGETALL`` array (as a script returns it)."""
    it = iter(flat)
    return decode_pairs(zip(it, it, strict=True))


def text(raw: bytes | str) -> str:
    """Return a reply as ``str``."""
    return raw.decode() if isinstance(raw, bytes) else raw
