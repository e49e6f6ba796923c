"""Two workloads beside the no-op ones: jobs that wait on I/O, and producers mixed with workers.

    .venv/bin/python bench/workload_bench.py                          # SQLite, both, 3 reps
    .venv/bin/python bench/workload_bench.py --only realistic --reps 1
    .venv/bin/python bench/workload_bench.py --url redis://127.0.0.1:6379/14
    .venv/bin/python bench/workload_bench.py --url postgresql://postgres@127.0.0.1:5432/postgres

Each repetition runs every selected workload once (interleaved), each on a fresh store:
a new folder for ``{dir}`` of a SQLite URL, a key prefix or schema of its own on Redis
and PostgreSQL (removed afterwards). The jobs are ``nap`` of ``bench_jobs.py``: an
``async def`` that awaits ``asyncio.sleep(payload["s"])`` and appends
``<tag> <start> <end>`` (its own ``time.time()``) to a sink file, 20 ms of lines per
write. Worker processes are
``python -m conveyor worker bench_jobs:queue --concurrency C``, started from ``bench/``
in a session of their own and stopped by process group, as in ``store_bench.py``.

``realistic``: ``--n`` (20,000) jobs of ``--job-ms`` (10 ms) are enqueued beforehand with
``enqueue_many`` (batches of 1,000), then one worker process with ``--concurrency``
(200) drains them. Rate = N / (last job end - first job start), from the sink: the
worker's start-up is left out. Ideal = concurrency / job time (200 / 0.010 s = 20,000
jobs/s); target: the rate >= 90 % of it.

``bare``: the same jobs with no job queue: ``bare_loop.py`` in a process of its own
runs ``--n`` sleeps of ``--job-ms``, a task each, ``--concurrency`` at once, a new one
as each ends. The most a worker on the standard event loop could reach here, in the
same run.

``mixed``: ``--mixed-processes`` (2) worker processes with ``--mixed-concurrency`` (20)
each serve a fresh store. Once both log that they serve, one producer process (this
one) runs ``--producers`` (20) coroutines on one queue object, which share an
operation budget of ``--mixed-ops`` (20,000) or ``--mixed-s`` (20 s), whichever ends
first. Each operation, seeded per coroutine: 70 % ``enqueue`` of a ``--mixed-job-ms``
(1 ms) ``nap`` job; 30 % a read, of which 1 in 10 is ``get_stats`` and the others
``get_job`` of an id picked at random among the last 100 enqueued. Figures: each
enqueue's and each read's own await time (p50 / p95 / p99 and p50 / p99, ms;
nearest-rank), operations per second of the producers' run, drain = jobs /
(last job end - first job start), and the lag: seconds from the producers' last
operation to the last job's end (how far the workers fell behind).

Both fail loudly (an error, exit status 1) unless every enqueued job ran exactly once:
each tag once in the sink, no other, and the store counting them all completed. Every
wait is bounded by ``--timeout`` (a whole workload by 3x that). See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from store_bench import (
    Figure,
    Sink,
    Stores,
    WorkerProcess,
    chosen,
    command_for,
    fill,
    pct,
    report,
    run_interleaved,
    run_options,
    summary_row,
    wait_until,
)

from conveyor import create_queue

DEFAULT_URL = "sqlite:///{dir}/workload.db"
WORKLOADS = ["realistic", "bare", "mixed"]
ENQUEUE_SHARE, STATS_SHARE, RECENT = 0.70, 0.10, 100  # mixed: the operations' mix
TARGET_OF_IDEAL = 90.0


def figures(a: argparse.Namespace) -> dict[str, Figure]:
    io = f"realistic ({a.n:,} x {a.job_ms:g} ms, --concurrency {a.concurrency}):"
    bare = "bare event loop, no queue (a task per job, same jobs and concurrency):"
    mx = f"mixed ({a.producers} producers, {a.mixed_processes} worker processes):"
    return {
        "io_rate": Figure("realistic", f"{io} drain, first start -> last end", "jobs/s"),
        "io_of_ideal": Figure(
            "realistic",
            f"{io} drain / ideal {ideal_rate(a):,.0f} jobs/s (concurrency / job time)",
            "%",
            (">=", TARGET_OF_IDEAL),
        ),
        "io_first_s": Figure("realistic", f"{io} worker spawn -> first job", "s"),
        "bare_rate": Figure("bare", f"{bare} drain, first start -> last end", "jobs/s"),
        "bare_of_ideal": Figure("bare", f"{bare} drain / ideal {ideal_rate(a):,.0f} jobs/s", "%"),
        "bare_p50_ms": Figure("bare", f"{bare} a job's own duration, p50", "ms"),
        "mx_enqueue_p50": Figure("mixed", f"{mx} enqueue await p50", "ms"),
        "mx_enqueue_p95": Figure("mixed", f"{mx} enqueue await p95", "ms"),
        "mx_enqueue_p99": Figure("mixed", f"{mx} enqueue await p99", "ms"),
        "mx_read_p50": Figure("mixed", f"{mx} read await p50 (get_job; get_stats 1 in 10)", "ms"),
        "mx_read_p99": Figure("mixed", f"{mx} read await p99", "ms"),
        "mx_ops": Figure("mixed", f"{mx} producers' operations per second", "ops/s"),
        "mx_jobs": Figure("mixed", f"{mx} jobs enqueued", "jobs"),
        "mx_drain": Figure(
            "mixed", f"{mx} drain of {a.mixed_job_ms:g} ms jobs, first start -> last end", "jobs/s"
        ),
        "mx_lag_s": Figure("mixed", f"{mx} producers' last operation -> last job end", "s"),
    }


def ideal_rate(a: argparse.Namespace) -> float:
    return a.concurrency / (a.job_ms / 1000)


def ran_once(sink: Sink, tags: Iterable[int], what: str) -> None:
    """Raise unless each of ``tags`` ran exactly once, and nothing else ran."""
    sink.poll()
    expected = set(tags)
    missing, extra = expected - sink.seen.keys(), sink.seen.keys() - expected
    if sink.dups or missing or extra:
        raise RuntimeError(
            f"{what}: {len(sink.seen):,} of {len(expected):,} jobs ran, {sink.dups} ran"
            f" again, {len(missing)} missing (e.g. {sorted(missing)[:5]}), {len(extra)} unknown"
        )


async def completed_in_store(queue, n: int, timeout: float, what: str) -> None:
    """Wait until the store counts ``n`` completed jobs and nothing else (bounded)."""
    stats = None

    async def check() -> bool:
        nonlocal stats
        stats = await queue.get_stats()
        return stats.completed == n and stats.total == n

    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: the store counts {stats}, expected {n:,} completed")
        await asyncio.sleep(0.05)


@dataclass
class Mixed:
    """What the producers of the mixed workload did."""

    enqueue_s: list[float] = field(default_factory=list)
    read_s: list[float] = field(default_factory=list)
    tags: int = 0  # jobs enqueued: tags 0 .. tags - 1
    ops: int = 0
    misses: int = 0  # get_job of a recent id that found nothing
    began: float = 0.0
    ended: float = 0.0


class Workloads:
    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        self.a = args
        self.root = root
        self.stores = Stores(args.url, root)
        self.workers: list[WorkerProcess] = []  # every one started and not stopped yet

    @asynccontextmanager
    async def fresh(self, tag: str) -> AsyncIterator[tuple[Any, str]]:
        """A producer queue on a fresh store, and its URL; after, no worker and no store."""
        url = self.stores.fresh(tag)
        try:
            async with create_queue(url=url, name=f"workload-{uuid.uuid4().hex[:8]}") as queue:
                yield queue, url
        finally:
            self.stop_workers()
            self.stores.drop(url)

    def spawn(self, url: str, queue: str, concurrency: int, sink: Sink, what: str):
        log = Path(tempfile.mkstemp(f".{what}.log", dir=self.root)[1])
        worker = WorkerProcess(url, queue, concurrency, sink.path, log)
        self.workers.append(worker)
        return worker

    def sink(self) -> Sink:
        return Sink(Path(tempfile.mkstemp(".sink", dir=self.root)[1]))

    async def all_ran_once(self, queue, sink: Sink, tags: range, what: str) -> None:
        """Wait (bounded) for the jobs ``tags`` to run and complete; raise unless once each.

        The sink is polled every 50 ms (little CPU beside the workers); once the store
        counts them all completed, the workers are stopped and the sink read once more.
        """
        n = len(tags)
        try:
            await wait_until(lambda: sink.poll() >= n, self.a.timeout, what, every=0.05)
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}: {len(sink.seen):,} of {n:,} ran") from None
        await completed_in_store(queue, n, self.a.timeout, what)
        self.stop_workers()
        ran_once(sink, tags, what)

    # -- the workloads --------------------------------------------------------------------

    async def w_realistic(self) -> dict[str, float]:
        a, sink = self.a, self.sink()
        async with self.fresh("realistic") as (queue, url):
            await fill(queue, a.n, 1000, name="nap", s=a.job_ms / 1000)
            worker = self.spawn(url, queue.name, a.concurrency, sink, "realistic")
            await self.all_ran_once(queue, sink, range(a.n), "realistic")
        first, last = min(sink.seen.values()), max(sink.ended.values())
        rate = a.n / (last - first)
        return {
            "io_rate": rate,
            "io_of_ideal": 100 * rate / ideal_rate(a),
            "io_first_s": first - worker.spawned,
        }

    async def w_bare(self) -> dict[str, float]:
        a = self.a
        child = await asyncio.create_subprocess_exec(
            sys.executable, str(Path(__file__).with_name("bare_loop.py")), "--n", str(a.n),
            "--concurrency", str(a.concurrency), "--job-ms", str(a.job_ms),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await child.communicate()
        if child.returncode != 0:
            raise RuntimeError(f"bare_loop.py exited with status {child.returncode}")
        got = json.loads(out)
        return {"bare_rate": got["rate"], "bare_of_ideal": got["of_ideal"],
                "bare_p50_ms": got["p50_ms"]}  # fmt: skip

    async def w_mixed(self) -> dict[str, float]:
        a, sink = self.a, self.sink()
        async with self.fresh("mixed") as (queue, url):
            for _ in range(a.mixed_processes):
                self.spawn(url, queue.name, a.mixed_concurrency, sink, "mixed")
            for worker in self.workers:
                await worker.ready(a.timeout)
            run = await self.produce(queue)
            await self.all_ran_once(queue, sink, range(-1, run.tags), "mixed")  # -1: warm-up
        if run.misses:
            print(f"  (mixed: {run.misses} get_job of a recent id found nothing)", flush=True)
        starts = [t for tag, t in sink.seen.items() if tag >= 0]
        ends = [t for tag, t in sink.ended.items() if tag >= 0]
        enqueue_ms = [s * 1000 for s in run.enqueue_s]
        read_ms = [s * 1000 for s in run.read_s]
        return {
            "mx_enqueue_p50": pct(enqueue_ms, 50),
            "mx_enqueue_p95": pct(enqueue_ms, 95),
            "mx_enqueue_p99": pct(enqueue_ms, 99),
            "mx_read_p50": pct(read_ms, 50),
            "mx_read_p99": pct(read_ms, 99),
            "mx_ops": run.ops / (run.ended - run.began),
            "mx_jobs": run.tags,
            "mx_drain": run.tags / (max(ends) - min(starts)),
            "mx_lag_s": max(ends) - run.ended,
        }

    async def produce(self, queue) -> Mixed:
        """The mixed workload's producers: ``--producers`` coroutines, one queue object."""
        a, run = self.a, Mixed()
        job_s = a.mixed_job_ms / 1000
        recent = deque([await queue.enqueue("nap", {"tag": -1, "s": job_s})], maxlen=RECENT)
        await queue.get_stats()  # warm: the store's connections are open
        clock = time.perf_counter

        async def producer(seed: int) -> None:
            rnd = random.Random(seed)
            while run.ops < a.mixed_ops and clock() < deadline:
                run.ops += 1
                if rnd.random() < ENQUEUE_SHARE:
                    payload = {"tag": run.tags, "s": job_s}
                    run.tags += 1
                    t0 = clock()
                    job_id = await queue.enqueue("nap", payload)
                    run.enqueue_s.append(clock() - t0)
                    recent.append(job_id)
                elif rnd.random() < STATS_SHARE:
                    t0 = clock()
                    await queue.get_stats()
                    run.read_s.append(clock() - t0)
                else:
                    job_id = rnd.choice(recent)
                    t0 = clock()
                    job = await queue.get_job(job_id)
                    run.read_s.append(clock() - t0)
                    run.misses += job is None

        deadline = clock() + a.mixed_s
        run.began = time.time()
        await asyncio.gather(*(producer(seed) for seed in range(a.producers)))
        run.ended = time.time()
        return run

    # -- the harness's side ---------------------------------------------------------------

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()  # SIGTERM to its process group, SIGKILL after 5 s; once
        self.workers.clear()

    async def run(self, workload: str) -> dict[str, float]:
        method = getattr(self, "w_" + workload)
        return await asyncio.wait_for(method(), self.a.timeout * 3)

    async def close(self) -> None:
        self.stop_workers()


OPTIONS = [  # flag, type, default, help: beside run_options' --only, --reps, --url, ...
    ("--n", int, 20_000, "realistic: jobs drained"),
    ("--job-ms", float, 10.0, "realistic: each job's sleep, ms"),
    ("--concurrency", int, 200, "realistic: the worker's concurrency"),
    ("--producers", int, 20, "mixed: producer coroutines"),
    ("--mixed-ops", int, 20_000, "mixed: operations at most"),
    ("--mixed-s", float, 20.0, "mixed: seconds at most"),
    ("--mixed-job-ms", float, 1.0, "mixed: each job's sleep, ms"),
    ("--mixed-processes", int, 2, "mixed: worker processes"),
    ("--mixed-concurrency", int, 20, "mixed: concurrency of each worker process"),
]


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    run_options(ap, WORKLOADS, DEFAULT_URL)
    for flag, kind, default, what in OPTIONS:
        ap.add_argument(flag, type=kind, default=default, help=f"{what} (default {default:,})")
    return ap.parse_args()


def main() -> int:
    args = parse_args()
    workloads = chosen(args.only, WORKLOADS)
    if urlsplit(args.url).scheme == "memory":
        sys.exit("the workloads run worker processes: a memory:// store is not shared with them")
    # A SIGTERM unwinds as ^C does: each workload's clean-up stops its worker processes.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    table, command = figures(args), command_for(None, __file__)
    try:
        results, errors = run_interleaved(
            args, workloads, table, lambda root: Workloads(args, root), command
        )
    except KeyboardInterrupt:
        print("interrupted (worker processes stopped, stores removed)", file=sys.stderr)
        return 130
    rows = [
        summary_row(key, f.label, f.unit, results[key], f.target, command_for(f.measure, __file__))
        for key, f in table.items()
        if results.get(key)
    ]
    return report(rows, results, errors, args.json, command)


if __name__ == "__main__":
    sys.exit(main())
