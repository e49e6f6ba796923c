"""The handlers a worker runs Django tasks with, as Django's request cycle runs a view.

``django.task`` jobs run :meth:`TaskRunner.run` on the worker's threads,
``django.task.async`` ones :meth:`TaskRunner.arun` on its event loop. Each imports the
task by its module path, sends Django's ``task_started`` and ``task_finished`` signals
around it (``task_finished`` once per attempt, ``FAILED`` for an attempt that raised,
whether conveyor retries it or not), passes a ``TaskContext`` to tasks that take one,
and returns the task's return value (``normalize_json``-ed) as the job's result.

Database connections: as ``request_started`` and ``request_finished`` do, each job
calls ``django.db.close_old_connections()`` before and after it runs, in the thread
where its queries ran (Django's connections belong to one thread each): a plain task's
worker thread, and for a coroutine the one thread where ``sync_to_async`` runs Django's
ORM. So with ``CONN_MAX_AGE = 0`` every job has connections of its own, and a
connection broken by a database restart never outlives the job that saw it.
"""

from __future__ import annotations

import traceback
from typing import Any, Protocol

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from django.utils import timezone

from ...job import Job
from .compat import (
    TaskContext,
    TaskError,
    TaskResult,
    normalize_json,
    task_finished,
    task_started,
)
from .results import FAILED, RUNNING, SUCCESSFUL, class_path, note_class, task_result, with_status

_close_async = sync_to_async(close_old_connections)


class Backend(Protocol):
    """What the runner needs of its backend (a ``ConveyorBackend``)."""

    alias: str

    def task_of(self, payload: Any, queue_name: str, config: Any) -> Any:
        """Return the task of a job."""
        ...


class TaskRunner:
    """Runs the Django tasks of one backend's jobs (see the module docstring)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def run(self, job: Job) -> Any:
        """Run the plain task of ``job`` on this (worker) thread; return its value."""
        close_old_connections()
        try:
            result, args, kwargs = self._begin(job)
            try:
                if result.task.takes_context:
                    value = result.task.func(TaskContext(task_result=result), *args, **kwargs)
                else:
                    value = result.task.func(*args, **kwargs)
                return self._succeeded(result, value)
            except Exception as exc:
                self._failed(result, exc)
                raise
        finally:
            close_old_connections()

    async def arun(self, job: Job) -> Any:
        """Run the coroutine task of ``job`` on the worker's loop; return its value."""
        await _close_async()
        try:
            result, args, kwargs = self._begin(job)
            try:
                if result.task.takes_context:
                    value = await result.task.func(TaskContext(task_result=result), *args, **kwargs)
                else:
                    value = await result.task.func(*args, **kwargs)
                return self._succeeded(result, value)
            except Exception as exc:
                self._failed(result, exc)
                raise
        finally:
            await _close_async()

    def _begin(self, job: Job) -> tuple[TaskResult[Any], list[Any], dict[str, Any]]:
        """Import the job's task, make its running ``TaskResult``, send ``task_started``."""
        backend = self.backend
        task = backend.task_of(job.payload, job.queue, job.config)
        result = task_result(job, task, backend.alias)
        with_status(result, RUNNING, None, errors=[])
        task_started.send(sender=type(backend), task_result=result)
        return result, result.args, result.kwargs

    def _succeeded(self, result: TaskResult[Any], value: Any) -> Any:
        value = normalize_json(value)  # what a TypeError of it says fails the attempt
        with_status(result, SUCCESSFUL, timezone.now(), _return_value=value)
        task_finished.send(sender=type(self.backend), task_result=result)
        return value

    def _failed(self, result: TaskResult[Any], exc: Exception) -> None:
        """Note the failure on ``result`` and send ``task_finished`` (inside ``except``)."""
        note_class(exc)
        error = TaskError(exception_class_path=class_path(exc), traceback=_traceback(exc))
        with_status(result, FAILED, timezone.now(), errors=[error])
        task_finished.send(sender=type(self.backend), task_result=result)


def _traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))
