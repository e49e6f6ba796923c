"""Tasks of the test project, one for each thing the backend must carry."""

from __future__ import annotations

import asyncio
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connections

try:
    from django.tasks import TaskContext, task
except ImportError:  # Django < 6: the backport
    from django_tasks import TaskContext, task  # type: ignore[no-redef]


class PaymentError(Exception):
    """A failure of the application's own."""


@task
def add(a: int, b: int) -> int:
    return a + b


@task(queue_name="emails", priority=10)
def send(to: str, *, subject: str = "hi") -> str:
    return f"{subject} sent to {to}"


@task(takes_context=True)
def flaky(context: TaskContext, succeed_on: int) -> dict[str, Any]:
    if context.attempt < succeed_on:
        raise PaymentError(f"attempt {context.attempt} declined")
    return {"attempt": context.attempt, "id": context.task_result.id}


@task
def explode() -> None:
    raise PaymentError("card declined")


@task
def unserialisable() -> Any:
    return object()


@task
async def aadd(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


@task(takes_context=True)
async def aflaky(context: TaskContext, succeed_on: int) -> dict[str, Any]:
    await asyncio.sleep(0)
    if context.attempt < succeed_on:
        raise PaymentError(f"attempt {context.attempt} declined")
    return {"attempt": context.attempt, "id": context.task_result.id}


def _pid(alias: str) -> int:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


@task
def backend_pid(alias: str = "pg") -> int:
    """The PostgreSQL backend process of this thread's connection to ``alias``."""
    return _pid(alias)


@task
async def abackend_pid(alias: str = "pg") -> int:
    """The same from a coroutine: Django's ORM runs in ``sync_to_async``'s thread."""
    return await sync_to_async(_pid)(alias)
