"""``ConveyorBackend``: Django's task backend contract (DEP 0014) on a conveyor queue.

Every task is a conveyor job (:mod:`.results`), stored in the queue's store; any
``conveyor worker`` of that store runs it (:mod:`.worker`, ``manage.py conveyor
worker``), importing the task by its module path. Inside ``transaction.atomic()`` of
the backend's database a task is enqueued once that transaction commits (its result
id is known at once, the job's id made beforehand); with ``"transactional": True`` on
PostgreSQL it is written in that very transaction, on Django's connection, and is
rolled back with it. ``aenqueue`` stores at once on the running loop: Django's
transactions are not for async code.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from functools import partial
from inspect import iscoroutinefunction
from typing import Any, ParamSpec, TypeVar

from django.conf import settings as django_settings
from django.core import checks
from django.db import connections
from django.utils import timezone
from django.utils.module_loading import import_string

from ...client.create import create_queue
from ...client.queue import Queue
from ...definitions.settings import check_queue_name
from ...errors import ConfigurationError, ConveyorError
from ...ids import new_job_id
from .compat import (
    DEFAULT_TASK_PRIORITY,
    BaseTaskBackend,
    InvalidTask,
    InvalidTaskBackend,
    Task,
    TaskResult,
    TaskResultDoesNotExist,
    signals,
    task_enqueued,
)
from .results import ASYNC_JOB, JOB_NAMES, SYNC_JOB, new_result, task_result
from .runner import TaskRunner
from .settings import BackendSettings, check_transactional, conveyor_priority, read_settings

P = ParamSpec("P")
T = TypeVar("T")
_KEPT_TASKS = 256
"""Tasks whose checks (``validate_task``) and imports are remembered at most."""
_QUEUES: dict[tuple[str, str], TaskQueue] = {}
"""The queue of each backend (alias and settings) in this process."""
_QUEUES_LOCK = threading.Lock()


class TaskQueue(Queue):
    """The conveyor queue of a backend: its workers serve all of the backend's QUEUES.

    ``await queue.start()`` (what ``conveyor worker`` calls) serves them all; the
    blocking twin ``queue.sync.start()`` is :class:`Queue`'s own: give it
    ``queues=queue.served``.
    """

    served: tuple[str, ...] = ()
    """The queues a worker serves when ``start()`` is not told (``--queue``)."""

    async def start(
        self, *, queues: Any = None, concurrency: int | None = None, run_schedules: bool = True
    ) -> None:
        """Start workers on ``queues``, by default on every queue of the backend."""
        await super().start(
            queues=queues or list(self.served) or None,
            concurrency=concurrency,
            run_schedules=run_schedules,
        )


class ConveyorBackend(BaseTaskBackend):
    """A Django task backend whose tasks are conveyor jobs; see the module docstring."""

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.params = params
        """The backend's ``TASKS`` entry."""
        self._key = (alias, repr(params))
        self.settings: BackendSettings = read_settings(alias, params)
        """The backend's ``TASKS`` entry, read (nothing is opened before first use)."""
        url = self.settings.url or ""
        # memory:// is one process's: a result is only there where its worker runs.
        self.supports_get_result = not url.startswith("memory:")
        self._plans: dict[int, tuple[Any, str, str, dict[str, Any]]] = {}
        """Per task (by ``id``, the task kept in the entry): its job name, path, options."""
        self._made: TaskQueue | None = None
        self._database = self.settings.database
        self._tasks: dict[str, Any] = {}

    # -- the queue ------------------------------------------------------------------

    @property
    def queue(self) -> TaskQueue:
        """The conveyor queue the tasks go to, made on first use, one per process.

        Django makes a backend object per thread (as it does database connections);
        they share one queue, its store and its threads.
        """
        queue = self._made
        if queue is None:
            with _QUEUES_LOCK:
                queue = _QUEUES.get(self._key)
                if queue is None:
                    queue = _QUEUES[self._key] = self._make_queue()
            self._made = queue
        return queue

    def close(self) -> None:
        """Stop the queue's workers (if running here) and release its store; blocking.

        For the end of a process or a test: the backend objects of other threads keep
        the closed queue until Django replaces them (as it does when TASKS changes).
        """
        with _QUEUES_LOCK:
            queue = _QUEUES.pop(self._key, None)
        self._made = None
        if queue is not None:
            queue.sync.close()

    def _make_queue(self) -> TaskQueue:
        found = read_settings(self.alias, self.params)
        check_transactional(found, django_settings.DATABASES)
        errors = [p for p in found.problems if ".E" in p.id]
        if errors:
            raise InvalidTaskBackend("; ".join(p.message for p in errors))
        try:
            made = create_queue(url=found.url, name=found.queues[0], **found.queue_options)
            queue = TaskQueue(made.store, name=made.name, workers=made.workers, lease=made.lease,
                              serializer=made.serializer, retention=made.retention,
                              age_after=made.age_after)  # fmt: skip
            runner = TaskRunner(self)
            queue.register(SYNC_JOB, runner.run, **found.job_defaults)
            queue.register(ASYNC_JOB, runner.arun, **found.job_defaults)
        except ConveyorError as exc:
            raise InvalidTaskBackend(f"TASKS[{self.alias!r}]: {exc}") from exc
        queue.served = found.queues
        return queue

    def check(self, **kwargs: Any) -> Iterable[checks.CheckMessage]:
        """Django's system checks of the backend's settings (``conveyor.E001`` ...)."""
        found = read_settings(self.alias, self.params)
        check_transactional(found, django_settings.DATABASES)
        if not found.problems:  # what conveyor refuses: the URL, the values of options
            try:
                made = create_queue(url=found.url, name=found.queues[0])
            except ConveyorError as exc:
                found.complain("E002", f"OPTIONS['url']: {exc}")
            else:
                try:
                    create_queue(url="memory://", **found.queue_options)
                    made.register(SYNC_JOB, _nothing, **found.job_defaults)
                except ConveyorError as exc:
                    found.complain("E005", f"OPTIONS: {exc}")
        for problem in found.problems:
            kind = checks.Warning if ".W" in problem.id else checks.Error
            yield kind(problem.message, hint=problem.hint, obj=self, id=problem.id)

    # -- enqueue -----------------------------------------------------------------------

    def validate_task(self, task: Task[Any, Any]) -> None:
        """Django's checks of a task, and that its queue can be a conveyor queue."""
        super().validate_task(task)
        try:
            check_queue_name(task.queue_name)
        except ConveyorError as exc:
            raise InvalidTask(str(exc)) from None

    def enqueue(self, task: Task[P, T], args: Any, kwargs: Any) -> TaskResult[T]:
        """Enqueue ``task``; inside ``atomic()``, once it commits (or in it: transactional)."""
        name, path, options = self._plan(task)
        result = new_result(task, new_job_id(), args, kwargs, self.alias, timezone.now())
        payload = {"task": path, "args": result.args, "kwargs": result.kwargs,
                   "priority": task.priority}  # fmt: skip
        connection = connections[self._database]
        if not connection.in_atomic_block:  # (the _store of on_commit, inline: it is hot)
            self.queue.sync.enqueue(name, payload, job_id=result.id, **options)
            task_enqueued.send(type(self), task_result=result)
        elif self.settings.transactional:
            connection.ensure_connection()
            self.queue.sync.enqueue(
                name, payload, job_id=result.id, connection=connection.connection, **options
            )
            task_enqueued.send(type(self), task_result=result)
        else:
            connection.on_commit(partial(self._store, result, name, payload, options))
        return result

    async def aenqueue(self, task: Task[P, T], args: Any, kwargs: Any) -> TaskResult[T]:
        """Enqueue ``task`` now, on the running event loop."""
        name, path, options = self._plan(task)
        result = new_result(task, new_job_id(), args, kwargs, self.alias, timezone.now())
        payload = {"task": path, "args": result.args, "kwargs": result.kwargs,
                   "priority": task.priority}  # fmt: skip
        await self.queue.enqueue(name, payload, job_id=result.id, **options)
        await announce_enqueued(type(self), result)
        return result

    def _plan(self, task: Task[Any, Any]) -> tuple[str, str, dict[str, Any]]:
        """Return the job name, module path and enqueue options of ``task``, checked.

        Worked out once per task: tasks are frozen, so neither what ``validate_task``
        says of one nor its options change.
        """
        plan = self._plans.get(id(task))
        if plan is not None and plan[0] is task:
            return plan[1:]
        self.validate_task(task)
        options: dict[str, Any] = {}
        if task.priority != DEFAULT_TASK_PRIORITY:
            options["priority"] = conveyor_priority(task.priority)
        if task.queue_name != self.queue.name:
            options["queue"] = task.queue_name
        if task.run_after is not None:
            run_after = task.run_after
            if timezone.is_naive(run_after):  # USE_TZ = False: the default time zone's
                run_after = timezone.make_aware(run_after)
            options["scheduled_at"] = run_after
        name = ASYNC_JOB if iscoroutinefunction(task.func) else SYNC_JOB
        if len(self._plans) >= _KEPT_TASKS:
            self._plans.clear()
        self._plans[id(task)] = (task, name, task.module_path, options)
        return name, task.module_path, options

    def _store(
        self, result: TaskResult[Any], name: str, payload: Any, options: dict[str, Any]
    ) -> None:
        self.queue.sync.enqueue(name, payload, job_id=result.id, **options)
        task_enqueued.send(type(self), task_result=result)

    # -- results -----------------------------------------------------------------------

    def get_result(self, result_id: str) -> TaskResult[Any]:
        """Return the result of the task ``result_id``, as its job stands now."""
        return self.result_of(self.queue.sync.get_job(result_id), result_id)

    async def aget_result(self, result_id: str) -> TaskResult[Any]:
        """See :meth:`get_result`."""
        return self.result_of(await self.queue.get_job(result_id), result_id)

    def result_of(self, job: Any, result_id: str) -> TaskResult[Any]:
        """Return the ``TaskResult`` of ``job`` (raise ``TaskResultDoesNotExist`` for none)."""
        if job is None or job.name not in JOB_NAMES:
            raise TaskResultDoesNotExist(result_id)
        return task_result(job, self.task_of(job.payload, job.queue, job.config), self.alias)

    def task_of(self, payload: Any, queue_name: str, config: Any) -> Task[Any, Any]:
        """Return the task of a job: its module's task, as the job was enqueued."""
        path = payload["task"]
        task = self._tasks.get(path)
        if task is None:
            task = import_string(path)
            if not isinstance(task, Task):
                raise InvalidTask(f"{path!r} is not a task (a function decorated with @task)")
            if len(self._tasks) >= _KEPT_TASKS:
                self._tasks.clear()
            self._tasks[path] = task
        changes: dict[str, Any] = {}
        if task.priority != payload.get("priority", DEFAULT_TASK_PRIORITY):
            changes["priority"] = payload["priority"]
        if task.queue_name != queue_name:
            changes["queue_name"] = queue_name
        if task.backend != self.alias:
            changes["backend"] = self.alias
        if config.scheduled_at is not None:
            changes["run_after"] = config.scheduled_at
        return task.using(**changes) if changes else task

    def __repr__(self) -> str:
        return f"<ConveyorBackend {self.alias!r}>"


async def announce_enqueued(sender: type, result: TaskResult[Any]) -> None:
    """Send ``task_enqueued`` from async code, as ``asend`` does, without its thread hop.

    ``asend`` runs the signal's plain receivers through ``sync_to_async``: a trip to
    another thread and back, which cost more than the enqueue on Redis
    (bench/django_bench.py --async). When the only receiver is the framework's own
    ``log_task_enqueued`` (one ``logger.debug``), it is called here; any other receiver
    gets ``asend``'s handling.
    """
    plain, coroutines = task_enqueued._live_receivers(sender)
    if not coroutines and all(receiver is _LOG_ENQUEUED for receiver in plain):
        for receiver in plain:
            receiver(signal=task_enqueued, sender=sender, task_result=result)
        return
    await task_enqueued.asend(sender, task_result=result)


_LOG_ENQUEUED = getattr(signals, "log_task_enqueued", None)
"""The framework's receiver of ``task_enqueued``: it only logs, so it may run on a loop."""


def _nothing(job: Any) -> None:
    """Stand in for the runner where only the options are checked."""


def queue_of(alias: str) -> TaskQueue:
    """Return the conveyor queue of the ``TASKS`` backend ``alias`` (a ConveyorBackend)."""
    from .compat import task_backends

    try:
        backend = task_backends[alias]
    except InvalidTaskBackend as exc:
        raise ConfigurationError(f"no TASKS backend {alias!r}: {exc}") from None
    if not isinstance(backend, ConveyorBackend):
        raise ConfigurationError(
            f"TASKS[{alias!r}] is a {type(backend).__name__}, not conveyor's"
            " (BACKEND: conveyor.contrib.django.ConveyorBackend)"
        )
    try:
        return backend.queue
    except InvalidTaskBackend as exc:
        raise ConfigurationError(str(exc)) from None
