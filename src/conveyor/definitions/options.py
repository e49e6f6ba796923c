"""Between the public and the stored form: checked enqueue options, records, ``Job``."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, TypeAlias, TypeVar

from ..clock import to_datetime
from ..errors import InvalidJobError, SerializationError
from ..ids import new_job_id
from ..job import Job, JobConfig, JobPriority, JobStatus, check_priority
from ..retry import (
    BackoffPolicy,
    Exponential,
    Fixed,
    check_seconds,
    policy_from_spec,
    validate_policy,
)
from ..serializers import Serializer
from ..stores.records import JobRecord

T = TypeVar("T")

BackoffCallable: TypeAlias = Callable[[int, Job], float | timedelta]
"""A handler's own backoff: ``(attempt, job) -> delay`` (lives in code, not stored)."""
RetryDelay: TypeAlias = float | int | timedelta | BackoffPolicy | BackoffCallable
"""What ``retry_delay=`` takes: seconds, a built-in policy, or a backoff callable."""

OPTION_NAMES = frozenset(
    {"max_retries", "retry_delay", "timeout", "priority", "scheduled_at", "delay", "queue"}
)


@dataclass(frozen=True, slots=True)
class Options:
    """Checked job options (a handler's defaults or one enqueue's overrides)."""

    max_retries: int | None = None
    retry_delay: float | None = None
    backoff: Fixed | Exponential | None = None
    backoff_callable: BackoffCallable | None = None
    timeout: float | None = None
    no_timeout: bool = False
    priority: JobPriority | None = None


def check_options(raw: Mapping[str, Any], *, where: str, allow_callable: bool) -> Options:
    """Check job options; raise :class:`InvalidJobError` naming the first bad one."""
    unknown = set(raw) - OPTION_NAMES
    if unknown:
        raise InvalidJobError(f"unknown job option(s) {sorted(unknown)} in {where}")
    values: dict[str, Any] = {}
    if "max_retries" in raw:
        values["max_retries"] = _check_retries(raw["max_retries"])
    if "retry_delay" in raw:
        values.update(_check_retry_delay(raw["retry_delay"], allow_callable=allow_callable))
    if raw.get("timeout") is not None:
        if raw["timeout"] == math.inf:
            values["no_timeout"] = True
        else:
            values["timeout"] = check_seconds(raw["timeout"], "timeout", allow_zero=False)
    if "priority" in raw:
        values["priority"] = check_priority(raw["priority"])
    return Options(**values)


def _check_retries(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidJobError(f"max_retries must be a whole number, 0 or more, got {value!r}")
    return value


def _check_retry_delay(value: object, *, allow_callable: bool) -> dict[str, Any]:
    if isinstance(value, Fixed | Exponential):
        return {"backoff": validate_policy(value)}
    if callable(value) and not isinstance(value, timedelta):
        if not allow_callable:
            raise InvalidJobError(
                "a callable retry_delay can only be set on the handler"
                " (@queue.handler(name, retry_delay=fn)); per job use Fixed or Exponential"
            )
        return {"backoff_callable": value}
    return {"retry_delay": check_seconds(value, "retry_delay")}


MAX_KEY_LENGTH = 512
"""The longest unique key, in characters."""


def check_unique(key: object, unique_for: object, now: float) -> tuple[str, float | None]:
    """Check ``enqueue(key=..., unique_for=...)``; return the key and its ``unique_until``."""
    if key is None:
        raise InvalidJobError("unique_for needs a key: enqueue(..., key=..., unique_for=...)")
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH or "\x00" in key:
        raise InvalidJobError(
            f"key must be a non-empty string of at most {MAX_KEY_LENGTH} characters"
            f" (no NUL), got {key!r}"
        )
    if unique_for is None:
        return key, None
    return key, now + check_seconds(unique_for, "unique_for", allow_zero=False)


def check_start_time(scheduled_at: object, delay: object, now: float) -> tuple[float, float | None]:
    """Return ``(run_at, scheduled_at)`` in epoch seconds from the user's options."""
    if scheduled_at is not None and delay is not None:
        raise InvalidJobError("give either scheduled_at or delay, not both")
    if delay is not None:
        when = now + check_seconds(delay, "delay")
        return when, when
    if scheduled_at is None:
        return now, None
    if isinstance(scheduled_at, datetime):
        if scheduled_at.tzinfo is None:
            raise InvalidJobError(
                "scheduled_at must be timezone-aware (e.g. datetime.now(UTC)),"
                f" got {scheduled_at!r}"
            )
        when = scheduled_at.timestamp()
    elif isinstance(scheduled_at, int | float) and not isinstance(scheduled_at, bool):
        when = float(scheduled_at)
        if math.isnan(when) or math.isinf(when) or when < 0:
            raise InvalidJobError(f"scheduled_at must be a finite epoch time, got {scheduled_at!r}")
    else:
        raise InvalidJobError(
            f"scheduled_at must be a datetime or epoch seconds, got {scheduled_at!r}"
        )
    return when, when


def build_record(
    *,
    name: str,
    queue: str,
    payload: bytes,
    options: Options,
    defaults: Options,
    run_at: float,
    scheduled_at: float | None,
    now: float,
    job_id: str | None = None,
) -> JobRecord:
    """Make the stored form of a new job: per-job options over handler defaults.

    ``job_id``: its id, if made beforehand (checked by the caller); else a new one.
    """
    backoff = options.backoff or (None if options.retry_delay is not None else defaults.backoff)
    if backoff is None and options.retry_delay is not None and defaults.backoff_callable:
        # The job's own delay overrides the handler's callable, which workers consult
        # whenever a job stores no policy: store the job's delay as one.
        backoff = Fixed(options.retry_delay)
    return JobRecord(
        id=job_id or new_job_id(),
        queue=queue,
        name=name,
        payload=payload,
        status=JobStatus.SCHEDULED if run_at > now else JobStatus.PENDING,
        priority=int(_pick(options.priority, defaults.priority, JobPriority.NORMAL)),
        max_retries=_pick(options.max_retries, defaults.max_retries, 3),
        retry_delay=_pick(options.retry_delay, defaults.retry_delay, 1.0),
        timeout=_timeout(options, defaults),
        backoff=None if backoff is None else json.dumps(backoff.to_spec()),
        created_at=now,
        run_at=run_at,
        scheduled_at=scheduled_at,
    )


def new_like(
    template: JobRecord, payload: bytes, now: float, job_id: str | None = None
) -> JobRecord:
    """Make a new job due now, with ``template``'s name, queue and settings.

    What :func:`build_record` makes for the same name without per-job options or a
    start time, without working the settings out again (``job_id`` as there).
    """
    return JobRecord(
        job_id or new_job_id(), template.queue, template.name, payload, JobStatus.PENDING,
        template.priority, template.max_retries, template.retry_delay, template.timeout,
        template.backoff, now, now,
    )  # fmt: skip


def _pick(first: T | None, second: T | None, fallback: T) -> T:
    if first is not None:
        return first
    return second if second is not None else fallback


def _timeout(options: Options, defaults: Options) -> float | None:
    if options.no_timeout:
        return None
    if options.timeout is not None:
        return options.timeout
    if defaults.no_timeout:
        return None
    return defaults.timeout if defaults.timeout is not None else 30.0


def check_name(name: object) -> str:
    """Return a job name, or raise :class:`InvalidJobError`."""
    if not isinstance(name, str) or not name or len(name) > 200:
        raise InvalidJobError(
            f"job name must be a non-empty string of at most 200 characters, got {name!r}"
        )
    return name


def record_to_job(
    record: JobRecord,
    serializer: Serializer,
    decode: Callable[[bytes], Any] | None = None,
) -> Job:
    """Turn a stored record into the public :class:`Job`."""
    loads = decode or serializer.loads
    try:
        payload = loads(record.payload)
        result = None if record.result is None else loads(record.result)
    except SerializationError as exc:
        raise SerializationError(f"job {record.id}: {exc}") from None
    config = _config(record.max_retries, record.retry_delay, record.timeout, record.priority,
                     record.scheduled_at, record.backoff)  # fmt: skip
    return Job(
        id=record.id,
        name=record.name,
        queue=record.queue,
        payload=payload,
        status=record.status,
        config=config,
        attempts=record.attempts,
        created_at=to_datetime(record.created_at),
        started_at=to_datetime(record.started_at),
        completed_at=to_datetime(record.completed_at),
        error=record.error,
        traceback=record.traceback,
        result=result,
        progress_percent=record.progress,
        progress_message=record.progress_message,
        headers=_headers(record.headers),
    )


@lru_cache(maxsize=256)
def _config(
    max_retries: int,
    retry_delay: float,
    timeout: float | None,
    priority: int,
    scheduled_at: float | None,
    backoff: str | None,
) -> JobConfig:
    """Return the (immutable, so shared) config of a stored job's fields.

    Most jobs of a queue share a few configs: a worker builds each once, not per job.
    """
    return JobConfig(
        max_retries=max_retries,
        retry_delay=retry_delay,
        timeout=timeout,
        priority=JobPriority(priority),
        scheduled_at=to_datetime(scheduled_at),
        backoff=None if backoff is None else policy_from_spec(json.loads(backoff)),
    )


def add_headers(record: JobRecord, headers: Mapping[str, str]) -> None:
    """Merge ``headers`` into a new record's stored headers (a JSON object)."""
    own = json.loads(record.headers) if record.headers else {}
    record.headers = json.dumps({**own, **headers}, separators=(",", ":"))


def _headers(stored: str | None) -> dict[str, str]:
    """Decode a job's stored headers; anything but a JSON object of strings is none."""
    if not stored:
        return {}
    try:
        decoded = json.loads(stored)
    except ValueError:
        return {}
    if not isinstance(decoded, dict):
        return {}
    return {str(key): str(value) for key, value in decoded.items()}
