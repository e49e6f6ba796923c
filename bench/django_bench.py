"""What the Django backend costs over calling conveyor directly: enqueues one at a time.

    .venv/bin/python bench/django_bench.py                     # SQLite, 40 pairs of 300
    .venv/bin/python bench/django_bench.py --url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/django_bench.py --async

Each repetition enqueues ``--n`` jobs through Django's API (``task.enqueue(i)``, outside
any transaction: the job is stored at once) and ``--n`` through the backend's own
conveyor queue (``queue.sync.enqueue("django.task", payload)``, the same payload), on
one store, the two in alternating order (ABBA...). ``--async`` measures ``await
task.aenqueue(i)`` against ``await queue.enqueue(...)`` instead. Many short pairs, and
the median of the pairs' overheads, because this machine's speed drifts by more than
the difference measured. It prints each side's median rate and that median overhead
(target: at most 10 %); ``--verbose`` every pair.

``--floor`` also measures, in the same way, what any backend of Django's API must add:
the framework's own calls (``Task.get_backend()``, a ``TaskResult`` made by its
constructor, ``task_enqueued.send``) around ``queue.sync.enqueue``, with none of the
backend's. The backend's overhead cannot be below that floor's.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.append(str(HERE.parent / "tests"))  # servers.py: a schema per run on PostgreSQL
from servers import drop_namespace, namespaced  # noqa: E402

VERBOSE = False


def noop(i: int) -> int:
    return i


def configure(url: str) -> Any:
    """Set Django up with one conveyor backend on ``url``; return the task of ``noop``."""
    from importlib.util import find_spec

    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=[
            *(["django_tasks"] if find_spec("django.tasks") is None else []),
            "conveyor.contrib.django",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        USE_TZ=True,
        TASKS={
            "default": {
                "BACKEND": "conveyor.contrib.django.ConveyorBackend",
                "QUEUES": ["default"],
                "OPTIONS": {"url": url},
            }
        },
    )
    django.setup()
    from conveyor.contrib.django.compat import task

    return task(noop)  # type: ignore[arg-type]


def rate(count: int, enqueue: Callable[[int], Any]) -> float:
    started = time.perf_counter()
    for i in range(count):
        enqueue(i)
    return count / (time.perf_counter() - started)


async def arate(count: int, enqueue: Callable[[int], Any]) -> float:
    started = time.perf_counter()
    for i in range(count):
        await enqueue(i)
    return count / (time.perf_counter() - started)


def interleave(
    reps: int, django: Callable[[], float], conveyor: Callable[[], float]
) -> list[tuple[float, float]]:
    """Each side once to warm up, then ``reps`` pairs in alternating order."""
    django(), conveyor()
    results = []
    for rep in range(reps):
        if rep % 2 == 0:
            d, c = django(), conveyor()
        else:
            c, d = conveyor(), django()
        results.append((d, c))
        if VERBOSE:
            report(rep, d, c)
    return results


async def interleave_async(
    reps: int, django: Callable[[], Any], conveyor: Callable[[], Any]
) -> list[tuple[float, float]]:
    """:func:`interleave` on one event loop."""
    await django()
    await conveyor()
    results = []
    for rep in range(reps):
        if rep % 2 == 0:
            d, c = await django(), await conveyor()
        else:
            c, d = await conveyor(), await django()
        results.append((d, c))
        if VERBOSE:
            report(rep, d, c)
    return results


def report(rep: int, django: float, conveyor: float) -> None:
    print(
        f"rep {rep + 1}: task.enqueue {django:8.0f}/s   queue.enqueue {conveyor:8.0f}/s"
        f"   overhead {conveyor / django - 1:+6.1%}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="sqlite:///{dir}/django_bench.db")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--reps", type=int, default=40)
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--async", dest="use_async", action="store_true")
    parser.add_argument("--floor", action="store_true", help="also measure Django's own share")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.url.format(dir=folder)
        server = url.startswith(("postgres", "redis"))
        if server:
            url = namespaced(url)
        try:
            run(url, args.n, args.reps, args.use_async, args.verbose, args.floor)
        finally:
            if server:
                drop_namespace(url)


def run(url: str, count: int, reps: int, use_async: bool, verbose: bool, floor: bool) -> None:
    global VERBOSE
    VERBOSE = verbose
    noop_task = configure(url)
    from conveyor.contrib.django.compat import task_backends

    backend = task_backends["default"]
    queue = backend.queue
    path = noop_task.module_path

    def payload(i: int) -> dict[str, Any]:
        return {"task": path, "args": [i], "kwargs": {}, "priority": 0}

    def direct() -> float:
        return rate(count, lambda i: queue.sync.enqueue("django.task", payload(i)))

    if use_async:
        results = asyncio.run(
            interleave_async(
                reps,
                lambda: arate(count, noop_task.aenqueue),
                lambda: arate(count, lambda i: queue.enqueue("django.task", payload(i))),
            )
        )
    else:
        results = interleave(
            reps,
            lambda: rate(count, noop_task.enqueue),
            direct,
        )
    what = "await task.aenqueue" if use_async else "task.enqueue"
    summary(f"{url.split('?')[0]}, {count} enqueues x {reps} reps, medians: {what}", results)
    if floor and not use_async:
        from conveyor.contrib.django.compat import TaskResult, TaskResultStatus, task_enqueued

        sender = type(backend)

        def framework_only(i: int) -> None:
            noop_task.get_backend()
            result = TaskResult(task=noop_task, id="0" * 26, status=TaskResultStatus.READY,
                                enqueued_at=None, started_at=None, finished_at=None,
                                last_attempted_at=None, args=(i,), kwargs={},
                                backend="default", errors=[], worker_ids=[])  # fmt: skip
            queue.sync.enqueue("django.task", payload(i))
            task_enqueued.send(sender, task_result=result)

        results = interleave(
            reps,
            lambda: rate(count, framework_only),
            direct,
        )
        summary("the floor: Django's own calls around queue.sync.enqueue", results)
    queue.sync.close()


def summary(what: str, results: list[tuple[float, float]]) -> None:
    overheads = [c / d - 1 for d, c in results]
    print(
        f"{what} {statistics.median(d for d, _ in results):.0f}/s, conveyor"
        f" {statistics.median(c for _, c in results):.0f}/s; overhead"
        f" {statistics.median(overheads):+.1%} (median of the pairs; quartiles"
        f" {statistics.quantiles(overheads, n=4)[0]:+.1%} to"
        f" {statistics.quantiles(overheads, n=4)[2]:+.1%}; target <= +10 %)",
        flush=True,
    )


if __name__ == "__main__":
    main()
