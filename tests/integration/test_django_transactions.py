"""Django tasks and transactions, with real commits and rollbacks; connections in workers.

By default a task enqueued in ``transaction.atomic()`` is stored once the transaction
commits (and never if it rolls back, savepoints included). With ``"transactional":
True`` on PostgreSQL it is written in that transaction on Django's own connection. A
worker closes Django's connections after each job, so one that a database restart (here
``pg_terminate_backend``) broke does not fail the next job.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connections, transaction
from django_env import tasks_on

from conveyor.contrib.django import ConveyorBackend
from conveyor.contrib.django.compat import TaskResultDoesNotExist, TaskResultStatus, task_enqueued
from djapp import tasks
from servers import POSTGRES, namespace_on, require


@pytest.fixture
def orders() -> Iterator[str]:
    """A table of orders in Django's SQLite database, emptied afterwards."""
    with connections["default"].cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, email TEXT)")
        cursor.execute("DELETE FROM orders")
    yield "orders"
    connections["default"].close()


@pytest.fixture
def pg_orders() -> Iterator[str]:
    """A table of orders in a schema of its own on Django's "pg" database."""
    require(POSTGRES)
    schema = f"shop_{uuid.uuid4().hex[:10]}"
    with connections["pg"].cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {schema}")
        cursor.execute(f"CREATE TABLE {schema}.orders (id serial PRIMARY KEY, email text)")
    try:
        yield f"{schema}.orders"
    finally:
        with connections["pg"].cursor() as cursor:
            cursor.execute(f"DROP SCHEMA {schema} CASCADE")
        connections["pg"].close()


def count(alias: str, table: str) -> int:
    with connections[alias].cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        return int(cursor.fetchone()[0])


def place(alias: str, table: str, email: str) -> Any:
    """Insert an order and enqueue its task, in whatever transaction is open."""
    with connections[alias].cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} (email) VALUES (%s)", [email])
    return tasks.send.enqueue(email)


class Declined(Exception):
    pass


def place_and_roll_back(alias: str, table: str, email: str) -> Any:
    """:func:`place` in a transaction that rolls back; return the task's result."""
    try:
        with transaction.atomic(using=alias):
            result = place(alias, table, email)
            raise Declined
    except Declined:
        return result


def exists(backend: ConveyorBackend, job_id: str) -> bool:
    return backend.queue.sync.get_job(job_id) is not None


def check_on_commit(backend: ConveyorBackend, alias: str, table: str) -> None:
    """Stored at the commit; never for a rollback, a savepoint's included."""
    announced: list[str] = []

    def note(sender: Any, task_result: Any, **kwargs: Any) -> None:
        announced.append(task_result.id)

    task_enqueued.connect(note)
    try:
        with transaction.atomic(using=alias):
            kept = place(alias, table, "kept@example.com")
            assert not exists(backend, kept.id)  # waits for the commit
            with pytest.raises(TaskResultDoesNotExist):
                backend.get_result(kept.id)
            assert announced == []
            try:
                with transaction.atomic(using=alias):
                    inner = place(alias, table, "inner@example.com")
                    raise RuntimeError("savepoint rolled back")
            except RuntimeError:
                pass
        assert exists(backend, kept.id)
        assert announced == [kept.id]
        assert not exists(backend, inner.id)

        dropped = place_and_roll_back(alias, table, "dropped@example.com")
        assert not exists(backend, dropped.id)
        assert count(alias, table) == 1
        assert announced == [kept.id]

        direct = place(alias, table, "autocommit@example.com")  # no transaction: at once
        assert exists(backend, direct.id)
    finally:
        task_enqueued.disconnect(note)
    assert tasks.send.get_result(kept.id).status == TaskResultStatus.READY


def test_on_sqlite_a_task_is_enqueued_when_the_transaction_commits(
    tmp_path: Path, orders: str
) -> None:
    with tasks_on(f"sqlite:///{tmp_path / 'tasks.db'}") as backend:
        check_on_commit(backend, "default", orders)


def test_on_postgresql_a_task_is_enqueued_when_the_transaction_commits(pg_orders: str) -> None:
    with namespace_on(POSTGRES) as url, tasks_on(url, database="pg") as backend:
        check_on_commit(backend, "pg", pg_orders)


def test_transactional_writes_the_job_in_djangos_transaction(pg_orders: str) -> None:
    with namespace_on(POSTGRES) as url, tasks_on(url, database="pg", transactional=True) as backend:
        schema = url.rsplit("schema=", 1)[1]
        backend.queue.sync.get_stats()  # the store's schema exists before the first job
        with transaction.atomic(using="pg"):
            kept = place("pg", pg_orders, "kept@example.com")
            with connections["pg"].cursor() as cursor:  # in this transaction: there
                cursor.execute(f"SELECT count(*) FROM {schema}.jobs WHERE id = %s", [kept.id])
                assert cursor.fetchone()[0] == 1
            assert not exists(backend, kept.id)  # not committed: not for other connections
        assert exists(backend, kept.id)

        dropped = place_and_roll_back("pg", pg_orders, "dropped@example.com")
        assert not exists(backend, dropped.id)
        assert count("pg", pg_orders) == 1

        queue = backend.queue
        queue.sync.start(queues=list(queue.served))
        try:
            queue.sync.wait(kept.id, timeout=10)
        finally:
            queue.sync.stop(timeout=5)
        assert tasks.send.get_result(kept.id).return_value == "hi sent to kept@example.com"


@contextmanager
def _persistent(alias: str) -> Iterator[None]:
    """Connections to ``alias`` made meanwhile persist, with health checks."""
    entry = connections.settings[alias]  # what each thread's new connection reads
    saved = {key: entry[key] for key in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS")}
    entry.update(CONN_MAX_AGE=600, CONN_HEALTH_CHECKS=True)
    try:
        yield
    finally:
        entry.update(saved)


def _alive(pid: int) -> bool:
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
        return bool(row and row[0])


def _closed(pid: int) -> None:
    deadline = time.monotonic() + 5
    while _alive(pid):
        assert time.monotonic() < deadline, f"the worker kept connection {pid} open"
        time.sleep(0.05)


@pytest.mark.parametrize(
    "pid_task", [tasks.backend_pid, tasks.abackend_pid], ids=["plain", "async"]
)
def test_a_worker_closes_djangos_connections_after_each_job(tmp_path: Path, pid_task: Any) -> None:
    require(POSTGRES)
    with tasks_on(f"sqlite:///{tmp_path / 'tasks.db'}", workers=1) as backend:
        queue = backend.queue
        queue.sync.start(queues=list(queue.served))
        try:
            first = pid_task.enqueue()
            queue.sync.wait(first.id, timeout=10)
            pid = pid_task.get_result(first.id).return_value
            _closed(pid)  # at the end of its job, as at the end of a request
            second = pid_task.enqueue()
            queue.sync.wait(second.id, timeout=10)
        finally:
            queue.sync.stop(timeout=5)
        second.refresh()
        assert second.status == TaskResultStatus.SUCCESSFUL, second.errors
        assert second.return_value != pid
        _closed(second.return_value)


def test_a_connection_a_restart_broke_is_not_used_by_the_next_job(tmp_path: Path) -> None:
    # With persistent connections (CONN_MAX_AGE) and health checks, as Django's request
    # cycle: the job after a restart gets a working connection, not the broken one.
    require(POSTGRES)
    with (
        tasks_on(f"sqlite:///{tmp_path / 'tasks.db'}", workers=1) as backend,
        _persistent("pg"),
    ):
        queue = backend.queue
        queue.sync.start(queues=list(queue.served))
        try:
            first = tasks.backend_pid.enqueue()
            queue.sync.wait(first.id, timeout=10)
            pid = tasks.backend_pid.get_result(first.id).return_value
            assert _alive(pid)  # kept, as CONN_MAX_AGE asks
            with psycopg.connect(POSTGRES, autocommit=True) as conn:  # as a restart would
                conn.execute("SELECT pg_terminate_backend(%s)", [pid])
            second = tasks.backend_pid.enqueue()
            queue.sync.wait(second.id, timeout=10)
        finally:
            queue.sync.stop(timeout=5)
        second.refresh()
        assert second.status == TaskResultStatus.SUCCESSFUL, second.errors
        assert second.return_value != pid
