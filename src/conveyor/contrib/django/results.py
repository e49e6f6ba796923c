"""Between Django's tasks and conveyor's jobs: the payload, statuses and ``TaskResult``.

A Django task is one conveyor job named ``django.task`` (a plain function, run on a
worker's threads) or ``django.task.async`` (a coroutine function, run on its event
loop), whose payload is ``{"task": module path, "args": [...], "kwargs": {...},
"priority": Django's priority}``; its id is the ``TaskResult``'s. The job's queue is
the task's ``queue_name``, its ``scheduled_at`` the task's ``run_after``.

Statuses: PENDING and SCHEDULED (also a retry waiting for its time) are ``READY``,
PROCESSING is ``RUNNING``, COMPLETED ``SUCCESSFUL``, FAILED ``FAILED``, and
CANCELLED (Django has no such status) ``FAILED`` with a
``conveyor.errors.JobCancelledError`` in its errors.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from ... import errors as conveyor_errors
from ...job import Job, JobStatus
from .compat import TaskError, TaskResult, TaskResultStatus

SYNC_JOB = "django.task"
"""The job name of Django tasks whose function is plain."""
ASYNC_JOB = "django.task.async"
"""The job name of Django tasks whose function is a coroutine function."""
JOB_NAMES = frozenset({SYNC_JOB, ASYNC_JOB})

# Django's TextChoices are tuples to a type checker without Django's plugin: Any here.
READY: Any = TaskResultStatus.READY
RUNNING: Any = TaskResultStatus.RUNNING
SUCCESSFUL: Any = TaskResultStatus.SUCCESSFUL
FAILED: Any = TaskResultStatus.FAILED
STATUS = {
    JobStatus.PENDING: READY,
    JobStatus.SCHEDULED: READY,
    JobStatus.PROCESSING: RUNNING,
    JobStatus.COMPLETED: SUCCESSFUL,
    JobStatus.FAILED: FAILED,
    JobStatus.CANCELLED: FAILED,
}
"""Django's status of a job in each of conveyor's."""

CLASS_NOTE = "django task exception class: "
"""How the worker notes a failed task's exception class (its import path) in the
traceback, so that ``TaskError.exception_class_path`` is exact."""
WORKER_ID = "conveyor"
"""What stands in ``TaskResult.worker_ids``, once per attempt: conveyor counts a job's
attempts but does not keep which worker ran each."""


def class_path(exc: BaseException) -> str:
    """Return the import path of ``exc``'s class, as Django's ``TaskError`` has it."""
    kind = type(exc)
    return f"{kind.__module__}.{kind.__qualname__}"


def note_class(exc: BaseException) -> None:
    """Note ``exc``'s class path on it: its traceback, as stored, then names it."""
    exc.add_note(CLASS_NOTE + class_path(exc))


def task_error(job: Job) -> TaskError | None:
    """Return the error of ``job``'s last failure (or cancel) as Django's ``TaskError``."""
    if job.status is JobStatus.COMPLETED:
        return None
    if job.status is JobStatus.CANCELLED:
        reason = job.traceback or job.error or "cancelled"
        return TaskError(exception_class_path="conveyor.errors.JobCancelledError", traceback=reason)
    if job.error is None:
        return None
    trace = job.traceback or job.error
    return TaskError(exception_class_path=_error_class(job.error, trace), traceback=trace)


def _error_class(error: str, trace: str) -> str:
    """Return the failure's class path: noted by the worker, else read off the message."""
    for line in reversed(trace.splitlines()):
        if line.startswith(CLASS_NOTE):
            return line[len(CLASS_NOTE) :].strip()
    name = error.partition(":")[0].strip()  # conveyor writes "ClassName: message"
    if isinstance(getattr(builtins, name, None), type):
        return f"builtins.{name}"
    if isinstance(getattr(conveyor_errors, name, None), type):
        return f"conveyor.errors.{name}"
    return "conveyor.errors.ConveyorError"  # e.g. "worker lost: lease expired ..."


def task_result(job: Job, task: Any, alias: str) -> TaskResult[Any]:
    """Return Django's ``TaskResult`` of ``job``, the job of ``task`` on backend ``alias``."""
    payload = job.payload
    status = STATUS[job.status]
    error = task_error(job)
    finished = job.completed_at if job.status.is_finished else None
    result: TaskResult[Any] = TaskResult(
        task=task,
        id=job.id,
        status=status,
        enqueued_at=job.created_at,
        started_at=job.started_at,
        finished_at=finished,
        last_attempted_at=job.started_at,
        args=payload["args"],
        kwargs=payload["kwargs"],
        backend=alias,
        errors=[] if error is None else [error],
        worker_ids=[WORKER_ID] * job.attempts,
    )
    if status == SUCCESSFUL:
        object.__setattr__(result, "_return_value", job.result)
    return result


def new_result(
    task: Any, job_id: str, args: Any, kwargs: Any, alias: str, now: datetime
) -> TaskResult[Any]:
    """Return the ``TaskResult`` of a task just enqueued (or about to be, at a commit)."""
    return TaskResult(
        task=task,
        id=job_id,
        status=READY,
        enqueued_at=now,
        started_at=None,
        finished_at=None,
        last_attempted_at=None,
        args=args,
        kwargs=kwargs,
        backend=alias,
        errors=[],
        worker_ids=[],
    )


def with_status(
    result: TaskResult[Any], status: Any, finished_at: datetime | None, **more: Any
) -> TaskResult[Any]:
    """Set a running task's ``status`` (and ``errors``, or ``_return_value``) in place."""
    object.__setattr__(result, "status", status)
    object.__setattr__(result, "finished_at", finished_at)
    for name, value in more.items():
        object.__setattr__(result, name, value)
    return result
