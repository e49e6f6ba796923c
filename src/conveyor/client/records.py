"""The records of new jobs: options checked against the handler's defaults, once per name.

:class:`RecordFactory` builds what a queue stores for ``enqueue``, ``enqueue_many``,
chains, groups and recurring ticks. The handler's defaults are the base and each job's
options override them; unknown names are refused where the process registered
handlers. A job with no options of its own takes a shortcut: the first record of its
name is kept and the later ones copy its settings (see :meth:`RecordFactory.build`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from ..definitions.chains import KEEP_KEY_FOR, Step, chain_headers, next_steps, read_chain, step_key
from ..definitions.dependencies import check_depends_on, dependency_headers
from ..definitions.handlers import HandlerRegistry
from ..definitions.options import (
    Options,
    add_headers,
    build_record,
    check_name,
    check_options,
    check_start_time,
    new_like,
)
from ..errors import InvalidJobError, UnknownJobError
from ..ids import check_job_id, new_job_ids
from ..job import Job
from ..runtime.scheduler import Schedule
from ..serializers import Serializer
from ..stores import JobStore
from ..stores.records import JobRecord

JobSpec = tuple[str, Any] | tuple[str, Any, Mapping[str, Any]] | Mapping[str, Any]
"""An item of ``enqueue_many``: ``(name, payload)``, ``(name, payload, options)``, or a
mapping ``{"name": ..., "payload": ..., **options}``."""
_NO_OPTIONS = Options()
_KEPT_NAMES = 256
"""Names whose option-less record is kept at most (names without a handler have no bound)."""


class Owner(Protocol):
    """What the factory reads of its queue (a tester may swap the store, the CLI the name)."""

    @property
    def name(self) -> str:
        """The queue's name."""
        ...

    @property
    def store(self) -> JobStore:
        """The queue's store (read on each use: :meth:`Queue.point_at` may change it)."""
        ...

    handlers: HandlerRegistry
    serializer: Serializer


class RecordFactory:
    """Builds the stored records of one queue's new jobs."""

    def __init__(self, owner: Owner) -> None:
        self._owner = owner
        self._plain: dict[str, tuple[bool, JobRecord]] = {}
        """Per job name: whether a handler is registered, and a record of that job built
        without options (its settings, worked out once for every such enqueue)."""

    def forget(self) -> None:
        """Drop what was worked out for the queue as it was (it now has another name)."""
        self._plain.clear()

    def new(
        self,
        name: str,
        payload: Any,
        raw: dict[str, Any],
        depends_on: Sequence[str] | None,
        job_id: str | None = None,
    ) -> JobRecord:
        """Build the record of one ``enqueue``: ``raw`` are the options given.

        ``job_id``: the id the caller made beforehand (``new_job_id()``), checked.
        """
        if job_id is not None:
            check_job_id(job_id)
        where = f"enqueue of {name!r}" if raw else ""  # names the call in options' errors
        record = self.build(name, payload, raw, where=where, job_id=job_id)
        if depends_on is not None:
            add_headers(record, dependency_headers(check_depends_on(depends_on)))
        return record

    def many(self, jobs: Iterable[JobSpec]) -> list[JobRecord]:
        """Build the records of ``enqueue_many``; ``(name, payload)`` items take a fast path.

        Jobs of one name with no options of their own differ only in id and payload:
        the first is built (and checked) in full, the others are copies of it with one
        clock read and one id batch for all.
        """
        # Kept for speed: bench/shortcuts.py many-copy (enqueue_many +28 % on Redis).
        specs = list(jobs)
        ids = new_job_ids(len(specs))
        models: dict[str, JobRecord] = {}
        dumps = self._owner.serializer.dumps
        records = []
        for index, spec in enumerate(specs):
            if type(spec) is tuple and len(spec) == 2 and type(spec[0]) is str:
                name, payload = spec
                model = models.get(name)
                if model is None:
                    model = models[name] = self.build(
                        name, None, {}, where=f"enqueue_many item {index}"
                    )
                records.append(JobRecord(
                    ids[index], model.queue, name, dumps(payload), model.status, model.priority,
                    model.max_retries, model.retry_delay, model.timeout, model.backoff,
                    model.created_at, model.run_at,
                ))  # fmt: skip
            else:
                record = self.spec(index, spec)
                record.id = ids[index]
                records.append(record)
        return records

    def spec(self, index: int, spec: JobSpec) -> JobRecord:
        """Build the record of item ``index`` of ``enqueue_many`` (or a chain's first job)."""
        if isinstance(spec, Mapping):
            options = dict(spec)
            name = options.pop("name", None)
            payload = options.pop("payload", None)
        elif isinstance(spec, tuple) and len(spec) in (2, 3):
            name, payload = spec[0], spec[1]
            options = dict(spec[2]) if len(spec) == 3 else {}
        else:
            raise InvalidJobError(
                f"enqueue_many item {index} must be (name, payload), (name, payload, options)"
                f" or a mapping with 'name', got {spec!r}"
            )
        if "key" in options or "unique_for" in options:
            raise InvalidJobError(
                f"enqueue_many item {index}: unique keys are for enqueue(), one job at a time"
            )
        return self.build(name, payload, options, where=f"enqueue_many item {index}")

    def chain(self, first: JobSpec, then: Sequence[Step]) -> JobRecord:
        """Build the record of a chain's first job, the later steps in its headers."""
        rest = next_steps(then)
        for name, _ in rest:
            check_name(name)
            self.check_known(name)
        record = self.spec(0, first)
        add_headers(record, chain_headers(record.id, 0, rest))
        return record

    def group(self, jobs: Iterable[JobSpec], then: Step) -> list[JobRecord]:
        """Build the records of a group's jobs, and last its final job, which waits for them."""
        records = self.many(jobs)
        if not records:
            raise InvalidJobError("a group needs at least one job")
        [[name, options]] = next_steps([then])
        final = self.build(name, None, dict(options), where="the final job of a group")
        add_headers(final, dependency_headers([r.id for r in records], gather=True))
        return [*records, final]

    def next_step(self, job: Job, result: Any) -> JobRecord | None:
        """Build the record of the chain step after ``job`` (completed with ``result``).

        Its unique key (chain and step) makes a second enqueue of it a no-op.
        """
        chain_id, done, rest = read_chain(job.headers)
        if not rest:
            return None
        (name, options), remaining, step = rest[0], rest[1:], done + 1
        record = self.build(
            name, result, dict(options), where=f"step {step} of chain {chain_id}", any_name=True
        )
        add_headers(record, chain_headers(chain_id, step, remaining))
        record.unique_key = step_key(chain_id, step)
        record.unique_until = record.created_at + KEEP_KEY_FOR
        return record

    def ticks(self, schedule: Schedule, ticks: Sequence[int]) -> list[JobRecord]:
        """Build the records of a recurring schedule's ``ticks`` (epoch milliseconds)."""
        where = f"schedule {schedule.key!r}"
        return [
            self.build(schedule.name, schedule.payload,
                       {**schedule.options, "scheduled_at": tick / 1000}, where=where)
            for tick in ticks
        ]  # fmt: skip

    def check_known(self, name: str) -> None:
        """Refuse a job name with no handler, where this process registered handlers."""
        handlers = self._owner.handlers
        if handlers.get(name) is None and len(handlers):
            raise UnknownJobError(
                f"no handler registered for job name {name!r} (known: {sorted(handlers)});"
                " register it, or enqueue from a process that registers no handlers"
            )

    def build(
        self,
        name: Any,
        payload: Any,
        raw: dict[str, Any],
        *,
        where: str,
        any_name: bool = False,
        job_id: str | None = None,
    ) -> JobRecord:
        """Check ``raw`` options (emptied as they are read) and build one new job's record.

        ``where`` names the call in error messages; ``any_name`` skips the check of the
        name against the registered handlers (a chain's later step); ``job_id`` is the
        id made beforehand, if any.
        """
        owner = self._owner
        check_name(name)
        # Kept for speed: bench/shortcuts.py record-cache-50-redis (+11 to +12 %).
        plain = not raw
        known = self._plain.get(name) if plain else None
        if known is not None and (known[0] or not owner.handlers):  # as check_known decides
            dumped, now = owner.serializer.dumps(payload), owner.store.clock.now()
            return new_like(known[1], dumped, now, job_id)
        handler = owner.handlers.get(name)
        if not any_name:
            self.check_known(name)
        scheduled_at, delay = raw.pop("scheduled_at", None), raw.pop("delay", None)
        queue = raw.pop("queue", None) or owner.name
        if not isinstance(queue, str):
            raise InvalidJobError(f"queue must be a string, got {queue!r}")
        options = check_options(raw, where=where, allow_callable=False) if raw else _NO_OPTIONS
        now = owner.store.clock.now()
        run_at, scheduled = check_start_time(scheduled_at, delay, now)
        record = build_record(
            name=name,
            queue=queue,
            payload=owner.serializer.dumps(payload),
            options=options,
            defaults=handler.defaults if handler else _NO_OPTIONS,
            run_at=run_at,
            scheduled_at=scheduled,
            now=now,
            job_id=job_id,
        )
        if plain:
            if len(self._plain) >= _KEPT_NAMES:
                self._plain.clear()
            self._plain[name] = (handler is not None, record)
        return record


def given(**options: Any) -> dict[str, Any]:
    """Keep the options of a call that were given (not left as ``None``)."""
    return {key: value for key, value in options.items() if value is not None}
