"""Django's task framework, from Django (6.0 and later) or the ``django-tasks`` backport.

Both have the same API (DEP 0014) under two names: ``django.tasks`` where Django has it,
else ``django_tasks`` (``pip install django-tasks``, for Django 4.2 to 5.2). Type
checking reads the backport, which is typed. Importing this module also registers the
framework's system checks, which run every backend's ``check()``.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import TYPE_CHECKING

if TYPE_CHECKING or find_spec("django.tasks") is None:
    import django_tasks.checks  # noqa: F401  (registers check_tasks, as its app would)
    from django_tasks import base, exceptions, signals, task_backends
    from django_tasks.backends.base import BaseTaskBackend
    from django_tasks.utils import normalize_json

    FRAMEWORK = "django_tasks"
    InvalidTask = exceptions.InvalidTaskError
    InvalidTaskBackend = exceptions.InvalidTaskBackendError
else:
    from django.tasks import base, exceptions, signals, task_backends
    from django.tasks.backends.base import BaseTaskBackend
    from django.utils.json import normalize_json

    FRAMEWORK = "django.tasks"
    InvalidTask = exceptions.InvalidTask
    InvalidTaskBackend = exceptions.InvalidTaskBackend

DEFAULT_TASK_PRIORITY = base.DEFAULT_TASK_PRIORITY
DEFAULT_TASK_QUEUE_NAME = base.DEFAULT_TASK_QUEUE_NAME
TASK_MAX_PRIORITY = base.TASK_MAX_PRIORITY
TASK_MIN_PRIORITY = base.TASK_MIN_PRIORITY
Task = base.Task
TaskContext = base.TaskContext
TaskError = base.TaskError
TaskResult = base.TaskResult
TaskResultStatus = base.TaskResultStatus
task = base.task
TaskResultDoesNotExist = exceptions.TaskResultDoesNotExist
task_enqueued = signals.task_enqueued
task_finished = signals.task_finished
task_started = signals.task_started

__all__ = [
    "DEFAULT_TASK_PRIORITY",
    "DEFAULT_TASK_QUEUE_NAME",
    "FRAMEWORK",
    "TASK_MAX_PRIORITY",
    "TASK_MIN_PRIORITY",
    "BaseTaskBackend",
    "InvalidTask",
    "InvalidTaskBackend",
    "Task",
    "TaskContext",
    "TaskError",
    "TaskResult",
    "TaskResultDoesNotExist",
    "TaskResultStatus",
    "normalize_json",
    "signals",
    "task",
    "task_backends",
    "task_enqueued",
    "task_finished",
    "task_started",
]
