"""conveyor on any store: throughput, latency, memory and idle cost.

    .venv/bin/python bench/store_bench.py                      # everything, 3 reps
    .venv/bin/python bench/store_bench.py --only drain,latency --reps 5
    .venv/bin/python bench/store_bench.py --url 'sqlite:///{dir}/bench.db?durability=normal'
    .venv/bin/python bench/store_bench.py --url redis://127.0.0.1:6379/14
    .venv/bin/python bench/store_bench.py --url postgresql://postgres@127.0.0.1:5432/postgres

Every job is a no-op ``async def`` handler whose first act is ``time.time()``. Each
repetition runs every selected measurement once, each on a fresh store: a new file in a
temp folder, or on Redis and PostgreSQL a key prefix or schema of its own (removed at
the end). The summary gives the median over the repetitions, the min-max spread, the
target (that of the store's issue) and the command that reproduces that one figure.
See bench/README.md for what each figure is exactly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import queue as queue_module
import random
import shlex
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from conveyor import create_queue
from conveyor.stores.sqlite.queries import INSERT_NEW as CONVEYOR_INSERT
from conveyor.stores.sqlite.schema import MIGRATIONS

HERE = Path(__file__).resolve().parent
sys.path.append(str(HERE.parent / "tests"))  # servers.py: a namespace per run on a server
from servers import drop_namespace, namespaced  # noqa: E402

SHARED_SCHEMES = ("redis", "rediss", "postgresql", "postgres")
DEFAULT_URL = "sqlite:///{dir}/bench.db"
MB = 1024 * 1024


# ----------------------------------------------------------------------------- figures
@dataclass(frozen=True)
class Figure:
    measure: str  # the --only name that produces it
    label: str
    unit: str
    target: tuple[str, float] | None = None  # (">=" | "<=" | "<", value) on SQLite


FIGURES: dict[str, Figure] = {
    "raw_commit": Figure("enqueue", "raw sqlite3 durable commit, 1 INSERT per txn", "jobs/s"),
    "enqueue_one": Figure("enqueue", "enqueue one at a time, each awaited", "jobs/s"),
    "enqueue_vs_raw": Figure(
        "enqueue", "enqueue one at a time / raw engine rate", "ratio", (">=", 0.80)
    ),
    "thread_hop_us": Figure(
        "enqueue", "asyncio -> thread -> asyncio round trip, no work (SQLite)", "us"
    ),
    "enqueue_vs_ceiling": Figure(
        "enqueue", "enqueue one at a time / (raw commit + one thread hop)", "ratio"
    ),
    "enqueue_concurrent": Figure(
        "concurrent", "enqueue from 50 concurrent tasks", "jobs/s", (">=", 20_000)
    ),
    "enqueue_many": Figure("bulk", "enqueue_many, batches of 1,000", "jobs/s", (">=", 100_000)),
    "sync_one": Figure("sync", "queue.sync.enqueue one at a time, plain thread", "jobs/s"),
    "sync_threads": Figure("sync", "queue.sync.enqueue from 8 threads at once", "jobs/s"),
    "drain": Figure("drain", "drain backlog, in-process, workers=10", "jobs/s", (">=", 5_000)),
    "drain_wall": Figure("drain", "drain incl. start(): N / (last start - start())", "jobs/s"),
    "drain_proc": Figure("drain-proc", "drain backlog, worker process, --concurrency 10", "jobs/s"),
    "drain_proc_first_s": Figure("drain-proc", "worker process spawn -> first job", "s"),
    "drain_logs": Figure(
        "drain-logs", "drain, worker process logging its INFO job lines (the default)", "jobs/s"
    ),
    "lat_p50": Figure("latency", "enqueue->start p50, in-process", "ms", ("<=", 1.0)),
    "lat_p99": Figure("latency", "enqueue->start p99, in-process", "ms", ("<=", 10.0)),
    "lat_call_p50": Figure("latency", "enqueue call duration p50, in-process", "ms"),
    "lat_proc_p50": Figure("latency-proc", "enqueue->start p50, worker process", "ms", ("<=", 5.0)),
    "lat_proc_p99": Figure(
        "latency-proc", "enqueue->start p99, worker process", "ms", ("<=", 20.0)
    ),
    "lat_proc_call_p50": Figure("latency-proc", "enqueue call duration p50 (producer)", "ms"),
    "lat_proc_raw_p50": Figure(
        "latency-proc", "one raw engine write after the same pauses, p50 (idle floor)", "ms"
    ),
    "rss_empty": Figure("rss", "worker VmRSS, empty store", "MB"),
    "rss_backlog": Figure("rss", "worker VmRSS, backlog of --rss-n jobs", "MB"),
    "rss_growth": Figure("rss", "worker VmRSS growth from the backlog", "MB", ("<", 50.0)),
    "hwm_growth": Figure("rss", "worker VmHWM (peak) growth from the backlog", "MB"),
    "idle_cpu": Figure("idle", "idle worker CPU, % of one core", "%"),
    "idle_wakeups": Figure("idle", "idle worker context switches per second", "1/s"),
}
# The shared stores' targets, where they differ from the SQLite ones above.
SERVER_TARGETS: dict[str, dict[str, tuple[str, float]]] = {
    "redis": {
        "enqueue_many": (">=", 50_000),
        "drain": (">=", 6_000),
        "lat_proc_p50": ("<=", 1.0),
        "lat_proc_p99": ("<=", 3.0),
    },
    "postgresql": {
        "enqueue_many": (">=", 50_000),
        "drain": (">=", 5_000),
        "lat_proc_p50": ("<=", 3.0),
        "lat_proc_p99": ("<=", 10.0),
    },
}
RAW_LABELS = {
    "sqlite": "raw sqlite3 durable commit, 1 INSERT per txn",
    "redis": "raw redis.asyncio SET round trip (job-sized value)",
    "postgresql": "raw psycopg durable single-row INSERT into conveyor's table (autocommit)",
}


def family(scheme: str) -> str:
    """``sqlite``, ``memory``, ``redis`` or ``postgresql``, whatever the URL's spelling."""
    return {"rediss": "redis", "postgres": "postgresql"}.get(scheme, scheme)


def target_for(key: str, scheme: str) -> tuple[str, float] | None:
    """The target of one figure on the store of ``scheme``."""
    figure = FIGURES[key]
    overrides = SERVER_TARGETS.get(family(scheme))
    if overrides is None:
        return figure.target
    if key in overrides:
        return overrides[key]
    if figure.measure in ("latency", "concurrent"):
        return None  # in-process latency, 50 producers: targets of the SQLite store only
    return figure.target


def verdict(target: tuple[str, float] | None, value: float) -> str:
    if target is None:
        return "-"
    op, limit = target
    ok = {">=": value >= limit, "<=": value <= limit, "<": value < limit}[op]
    return "PASS" if ok else "FAIL"


MEASURES = [
    "enqueue",
    "concurrent",
    "bulk",
    "sync",
    "drain",
    "drain-proc",
    "drain-logs",
    "latency",
    "latency-proc",
    "rss",
    "idle",
]
CROSS_PROCESS = {"drain-proc", "drain-logs", "latency-proc", "rss", "idle"}


def drain_rate(starts: list[float]) -> float:
    """Jobs/s of a drain, as the peers harness counts it: (N - 1) / (last - first start)."""
    return (len(starts) - 1) / (max(starts) - min(starts))


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


async def wait_until(
    check: Callable[[], bool], timeout: float, what: str, every: float = 0.001
) -> None:
    """Call ``check`` every ``every`` seconds until it is true; TimeoutError at ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not done after {timeout:g} s")
        await asyncio.sleep(every)


# ----------------------------------------------------------------------------- raw engines
@asynccontextmanager
async def raw_redis_set(url: str) -> AsyncIterator[Callable[[int], Awaitable[object]]]:
    """``redis_raw.py``'s SET: one awaited SET of a job-sized value, on one client."""
    import redis_raw

    from conveyor.stores.redis import RedisStore

    client = RedisStore(url)._new_client()
    tag = "{bench-raw-" + uuid.uuid4().hex[:8] + "}"
    try:
        yield lambda i: client.set(f"{tag}:{i}", redis_raw.VALUE)
    finally:
        async for key in client.scan_iter(match=f"{tag}*", count=1000):
            await client.delete(key)
        await client.aclose()


RAW_POSTGRES_INSERT = (
    "INSERT INTO {schema}.jobs (id, queue, name, payload, status, priority, max_retries,"
    " retry_delay, timeout, created_at, run_at)"
    " VALUES ($1, 'bench', 'noop', $2, 'pending', 1, 3, 1.0, 30.0, now(), now())"
)


@asynccontextmanager
async def raw_postgres_insert(url: str) -> AsyncIterator[Callable[[int], Awaitable[object]]]:
    """One single-row autocommit INSERT of a new job into conveyor's own table.

    As SQLite's raw commit: conveyor's schema (every migration, in a schema of its own,
    so the same indexes), the columns a new job sets, a prepared binary statement
    (``postgres_raw.py``'s psycopg driver); no count change, no NOTIFY, no conveyor code.
    """
    import postgres_raw
    import psycopg

    from conveyor.stores.postgres.schema import migrate

    schema = f"bench_raw_{uuid.uuid4().hex[:8]}"
    migrate(f"{url}?schema={schema}")
    insert = RAW_POSTGRES_INSERT.format(schema=schema)
    driver = postgres_raw.Psycopg()
    await driver.connect(url)
    try:
        await driver.execute(insert, "warm", b"{}")
        yield lambda i: driver.execute(insert, f"{i:026d}", b'{"tag":%d}' % i)
    finally:
        await driver.close()
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def raw_server_write(url: str):
    """The raw write of the store of ``url`` (Redis or PostgreSQL), as a context manager."""
    if family(urlsplit(url).scheme) == "redis":
        return raw_redis_set(url)
    return raw_postgres_insert(url.partition("?")[0])


async def timed(write: Callable[[int], Awaitable[object]], first: int, count: int) -> float:
    """Seconds taken by ``count`` awaited writes, numbered from ``first``."""
    t0 = time.perf_counter()
    for i in range(first, first + count):
        await write(i)
    return time.perf_counter() - t0


def pauses(n: int) -> list[float]:
    """The latency probe's spacing: ``n`` pauses of 10-20 ms, the same at every run."""
    rnd = random.Random(7)
    return [0.010 + rnd.random() * 0.010 for _ in range(n)]


# ----------------------------------------------------------------------------- stores
class Stores:
    """Fresh store URLs, each in a folder of its own under one temp folder."""

    def __init__(self, url: str, root: Path) -> None:
        self.template = url
        self.root = root

    @property
    def scheme(self) -> str:
        return urlsplit(self.template).scheme

    @property
    def shared_server(self) -> bool:
        return self.scheme in SHARED_SCHEMES

    def fresh(self, tag: str) -> str:
        if self.shared_server:
            return namespaced(self.template)  # a key prefix or schema of its own
        if "{dir}" not in self.template:
            return self.template  # a store of the user's: runs are kept apart by queue name
        folder = Path(tempfile.mkdtemp(prefix=f"{tag}-", dir=self.root))
        return self.template.replace("{dir}", str(folder))

    def drop(self, url: str) -> None:
        if self.shared_server:
            drop_namespace(url)
        elif "{dir}" in self.template:
            shutil.rmtree(Path(sqlite_path(url)).parent, ignore_errors=True)


def sqlite_path(url: str) -> str:
    path = urlsplit(url).path
    return path[1:] if path.startswith("/") else path


def sqlite_sync(url: str) -> str:
    options = {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}
    return options.get("durability", "full").upper()


def with_durability(url: str, durability: str) -> str:
    base, _, query = url.partition("?")
    options = {k: v[-1] for k, v in parse_qs(query).items()}
    options["durability"] = durability
    return base + "?" + "&".join(f"{k}={v}" for k, v in options.items())


def new_queue(url: str, workers: int, handler: Callable[..., Awaitable[Any]] | None = None):
    queue = create_queue(workers=workers, url=url, name=f"bench-{uuid.uuid4().hex[:8]}")

    async def unused(job):  # a producer-side registration: enqueue checks the name
        raise RuntimeError("producer queue ran a job")

    queue.register("noop", handler or unused)
    return queue


async def fill(
    queue, n: int, batch: int, first_tag: int = 0, name: str = "noop", **payload: Any
) -> None:
    """Enqueue ``n`` jobs ``name`` tagged from ``first_tag``, ``batch`` per enqueue_many."""
    for start in range(0, n, batch):
        await queue.enqueue_many(
            [(name, {"tag": first_tag + i, **payload}) for i in range(start, min(start + batch, n))]
        )


# ----------------------------------------------------------------------------- workers
class WorkerProcess:
    """``python -m conveyor worker bench_jobs:queue`` in a session of its own."""

    def __init__(
        self,
        url: str,
        queue_name: str,
        workers: int,
        sink: Path | None,
        log: Path,
        **extra_env: str,
    ):
        env = dict(os.environ, CONVEYOR_URL=url, BENCH_QUEUE=queue_name, PYTHONUNBUFFERED="1")
        env.pop("BENCH_SINK", None)
        env.update(extra_env)
        if sink is not None:
            env["BENCH_SINK"] = str(sink)
        self.log_path = log
        self._log = log.open("wb")
        self.spawned = time.time()
        argv = [
            sys.executable,
            "-m",
            "conveyor",
            "worker",
            "bench_jobs:queue",
            "--concurrency",
            str(workers),
            "--log-level",
            "info",
        ]
        self.proc = subprocess.Popen(
            argv,
            cwd=HERE,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pid = self.proc.pid

    async def ready(self, timeout: float) -> None:
        """Wait until the worker logged that it serves its queue."""

        def serving() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log_path.read_text()[-2000:]}")
            return b" serving " in self.log_path.read_bytes()

        await wait_until(serving, timeout, "worker start")

    def stop(self) -> None:
        """SIGTERM to its process group (ours), SIGKILL after 5 s."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait(5)
            except ProcessLookupError:
                pass
        self._log.close()

    def status(self, field: str) -> float:
        """A ``/proc/<pid>/status`` figure in MB (VmRSS, VmHWM)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024 / MB
        raise KeyError(field)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def context_switches(self) -> int:
        total = 0
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                text = (task / "status").read_text()
            except OSError:
                continue
            for line in text.splitlines():
                if "ctxt_switches:" in line:  # voluntary and nonvoluntary
                    total += int(line.split()[1])
        return total


class Sink:
    """Reads the ``<tag> <start time> [<end time>]`` lines the worker's jobs append."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.seen: dict[int, float] = {}  # tag -> start time
        self.ended: dict[int, float] = {}  # tag -> end time (the jobs that write one)
        self.dups = 0

    def poll(self) -> int:
        if self.path.exists():
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
            complete = data.rfind(b"\n") + 1
            self.offset += complete
            for line in data[:complete].splitlines():
                tag, started, *ended = line.split()
                if int(tag) in self.seen:
                    self.dups += 1
                    continue
                self.seen[int(tag)] = float(started)
                if ended:
                    self.ended[int(tag)] = float(ended[0])
        return len(self.seen)

    def started(self, tag: int) -> float | None:
        if tag not in self.seen:
            self.poll()
        return self.seen.get(tag)


# ----------------------------------------------------------------------------- measures
class Bench:
    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        self.a = args
        self.root = root
        self.stores = Stores(args.url, root)
        self.backlog_url: str | None = None
        self.backlog_queue = ""

    # -- enqueue ----------------------------------------------------------------------

    def raw_sqlite(self, url: str, name: str) -> sqlite3.Connection:
        """Plain sqlite3 beside the store's file: conveyor's table and indexes, autocommit."""
        conn = sqlite3.connect(Path(sqlite_path(url)).with_name(name), isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {sqlite_sync(url)}")
        for version in sorted(MIGRATIONS):  # conveyor's schema, every migration
            conn.executescript(MIGRATIONS[version])  # (the store counts its inserts itself)
        return conn

    @staticmethod
    def raw_row(i: int, now: float) -> tuple[Any, ...]:
        """The columns of conveyor's INSERT of a new job: a pending job, no start time."""
        return (f"{i:026d}", "bench", "noop", b'{"tag":%d}' % i, "pending", 1, 3, 1.0, 30.0,
                None, now, now, None)  # fmt: skip

    def raw_commit(self, url: str) -> float:
        """One autocommit INSERT per job into plain sqlite3: jobs/s."""
        conn = self.raw_sqlite(url, "raw.db")
        now = time.time()
        rows = [self.raw_row(i, now) for i in range(self.a.n)]
        t0 = time.perf_counter()
        for row in rows:
            conn.execute(CONVEYOR_INSERT, row)
        elapsed = time.perf_counter() - t0
        conn.close()
        return self.a.n / elapsed

    def raw_sqlite_after_pauses(self, url: str) -> list[float]:
        """ms of each of --lat-n raw commits, each after one of the probe's pauses."""
        conn = self.raw_sqlite(url, "raw-idle.db")
        took = []
        for i, pause in enumerate(pauses(self.a.lat_n)):
            time.sleep(pause)
            t0 = time.perf_counter()
            conn.execute(CONVEYOR_INSERT, self.raw_row(i, time.time()))
            took.append((time.perf_counter() - t0) * 1000)
        conn.close()
        return took

    async def raw_after_pauses(self, url: str) -> list[float]:
        """ms of each of --lat-n raw engine writes, each after one of the probe's pauses.

        An enqueue after such a pause finds the processes and the server idle, as each of
        the latency probe's does: this is that wake-up's cost with no conveyor code.
        """
        if family(self.stores.scheme) == "sqlite":
            return await asyncio.to_thread(self.raw_sqlite_after_pauses, url)
        took = []
        async with raw_server_write(url) as write:
            await timed(write, -100, 100)
            for i, pause in enumerate(pauses(self.a.lat_n)):
                await asyncio.sleep(pause)
                took.append(await timed(write, i, 1) * 1000)
        return took

    async def thread_hop_us(self) -> float:
        """Median µs of an awaited round trip to a waiting thread and back, doing nothing.

        SQLite's writes run in a thread so that a commit never blocks the event loop; this
        is the least such a design adds to each awaited enqueue (two thread wake-ups).
        """
        requests: queue_module.SimpleQueue = queue_module.SimpleQueue()

        def serve() -> None:
            while (item := requests.get()) is not None:
                loop, future = item
                loop.call_soon_threadsafe(future.set_result, None)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        loop, times = asyncio.get_running_loop(), []
        for _ in range(min(self.a.n, 5_000)):
            t0 = time.perf_counter()
            future = loop.create_future()
            requests.put((loop, future))
            await future
            times.append(time.perf_counter() - t0)
        requests.put(None)
        thread.join()
        return statistics.median(times) * 1e6

    async def m_enqueue(self) -> dict[str, float]:
        url = self.stores.fresh("enqueue")
        out: dict[str, float] = {}
        kind, n = family(self.stores.scheme), self.a.n
        if kind == "sqlite":
            out["raw_commit"] = await asyncio.to_thread(self.raw_commit, url)
            out["thread_hop_us"] = await self.thread_hop_us()
        async with new_queue(url, self.a.workers) as queue:

            def enqueue(i: int) -> Awaitable[object]:
                return queue.enqueue("noop", {"tag": i})

            await enqueue(-1)  # warm: statements prepared, file open
            if kind in ("redis", "postgresql"):
                # Blocks of raw writes and enqueues in turn: the machine's drifts and
                # pauses fall on both alike.
                raw_s = enqueue_s = 0.0
                async with raw_server_write(url) as write:
                    await timed(write, -100, 100)
                    block = max(n // 10, 1)
                    for first in range(0, n, block):
                        count = min(block, n - first)
                        raw_s += await timed(write, first, count)
                        enqueue_s += await timed(enqueue, first, count)
                out["raw_commit"] = n / raw_s
                out["enqueue_one"] = n / enqueue_s
            else:
                out["enqueue_one"] = n / await timed(enqueue, 0, n)
        if "raw_commit" in out:
            out["enqueue_vs_raw"] = out["enqueue_one"] / out["raw_commit"]
        if "thread_hop_us" in out:
            ceiling = 1 / (1 / out["raw_commit"] + out["thread_hop_us"] / 1e6)
            out["enqueue_vs_ceiling"] = out["enqueue_one"] / ceiling
        self.stores.drop(url)
        return out

    async def m_concurrent(self) -> dict[str, float]:
        url = self.stores.fresh("concurrent")
        producers, n = self.a.producers, self.a.n

        async def produce(queue, first: int) -> None:
            for i in range(first, n, producers):
                await queue.enqueue("noop", {"tag": i})

        async with new_queue(url, self.a.workers) as queue:
            await queue.enqueue("noop", {"tag": -1})
            t0 = time.perf_counter()
            await asyncio.gather(*(produce(queue, p) for p in range(producers)))
            rate = n / (time.perf_counter() - t0)
        self.stores.drop(url)
        return {"enqueue_concurrent": rate}

    async def m_bulk(self) -> dict[str, float]:
        url = self.stores.fresh("bulk")
        async with new_queue(url, self.a.workers) as queue:
            await queue.enqueue("noop", {"tag": -1})
            t0 = time.perf_counter()
            await fill(queue, self.a.bulk_n, self.a.batch)
            rate = self.a.bulk_n / (time.perf_counter() - t0)
        self.stores.drop(url)
        return {"enqueue_many": rate}

    async def m_sync(self) -> dict[str, float]:
        url = self.stores.fresh("sync")
        rates = await asyncio.to_thread(self.sync_rates, url)
        self.stores.drop(url)
        return rates

    def sync_rates(self, url: str) -> dict[str, float]:
        """Blocking enqueues from code with no event loop: one thread, then 8 at once."""
        queue = new_queue(url, self.a.workers)
        n, threads = self.a.n, 8

        def produce(first: int, step: int) -> None:
            for i in range(first, n, step):
                queue.sync.enqueue("noop", {"tag": i})

        try:
            queue.sync.enqueue("noop", {"tag": -1})  # warm: the store is open
            t0 = time.perf_counter()
            produce(0, 1)
            one = n / (time.perf_counter() - t0)
            producers = [
                threading.Thread(target=produce, args=(first, threads)) for first in range(threads)
            ]
            t0 = time.perf_counter()
            for producer in producers:
                producer.start()
            for producer in producers:
                producer.join()
            many = n / (time.perf_counter() - t0)
        finally:
            queue.sync.close()
        return {"sync_one": one, "sync_threads": many}

    # -- drain ------------------------------------------------------------------------

    async def m_drain(self) -> dict[str, float]:
        url, n = self.stores.fresh("drain"), self.a.n
        starts: list[float] = []
        tags: set[int] = set()
        done = asyncio.Event()

        async def noop(job):
            starts.append(time.time())
            tags.add(job.payload["tag"])
            if len(starts) >= n:
                done.set()

        async with new_queue(url, self.a.workers, noop) as queue:
            await fill(queue, n, self.a.batch)
            t_start = time.time()
            await queue.start()
            await asyncio.wait_for(done.wait(), self.a.timeout)
            await queue.stop()
            stats = await queue.get_stats()
        self.stores.drop(url)
        if len(tags) != n or len(starts) != n or stats.completed != n:
            raise RuntimeError(f"drain: {len(starts)} starts, {len(tags)} tags, {stats}")
        return {
            "drain": drain_rate(starts),
            "drain_wall": n / (max(starts) - t_start),
        }

    async def m_drain_proc(self) -> dict[str, float]:
        times, spawned = await self.drain_by_worker_process("drain-proc")
        return {
            "drain_proc": drain_rate(times),
            "drain_proc_first_s": min(times) - spawned,
        }

    async def m_drain_logs(self) -> dict[str, float]:
        """drain-proc with the worker's two INFO lines a job, as `conveyor worker` logs."""
        times, _ = await self.drain_by_worker_process("drain-logs", BENCH_JOB_LOGS="1")
        return {"drain_logs": drain_rate(times)}

    async def drain_by_worker_process(self, measure: str, **env: str) -> tuple[list[float], float]:
        """Drain a backlog with a worker process; each job's start time, and the spawn time."""
        url, n = self.stores.fresh(measure), self.a.n
        queue = new_queue(url, self.a.workers)
        async with queue:
            await fill(queue, n, self.a.batch)
        sink = Sink(Path(tempfile.mkstemp(".sink", dir=self.root)[1]))
        log = self._log(measure)
        worker = WorkerProcess(url, queue.name, self.a.workers, sink.path, log, **env)
        try:
            await wait_until(lambda: sink.poll() >= n, self.a.timeout, measure)
            await asyncio.sleep(0.2)
            sink.poll()
        finally:
            worker.stop()
            self.stores.drop(url)
        if sink.dups or len(sink.seen) != n:
            raise RuntimeError(f"{measure}: {len(sink.seen)} of {n} ran, {sink.dups} dups")
        return list(sink.seen.values()), worker.spawned

    # -- latency ----------------------------------------------------------------------

    async def probe(self, queue, started: Callable[[int], float | None]):
        """Warm up, then enqueue --lat-n jobs 10-20 ms apart; return latencies, call times."""
        for tag in (-1, -2, -3):
            await queue.enqueue("noop", {"tag": tag})
            await wait_until(lambda t=tag: started(t) is not None, self.a.timeout, "warm-up")
        await asyncio.sleep(0.2)
        sent: dict[int, float] = {}
        calls: list[float] = []
        for tag, pause in enumerate(pauses(self.a.lat_n)):
            t0 = time.time()
            await queue.enqueue("noop", {"tag": tag})
            calls.append((time.time() - t0) * 1000)
            sent[tag] = t0
            await asyncio.sleep(pause)
        await wait_until(lambda: all(started(t) for t in sent), self.a.timeout, "latency jobs")
        return [(started(t) - t0) * 1000 for t, t0 in sent.items()], calls  # type: ignore[operator]

    async def m_latency(self) -> dict[str, float]:
        url = self.stores.fresh("latency")
        starts: dict[int, float] = {}

        async def noop(job):
            now = time.time()
            starts[job.payload["tag"]] = now

        async with new_queue(url, self.a.workers, noop) as queue:
            await queue.start()
            lats, calls = await self.probe(queue, starts.get)
            await queue.stop()
        self.stores.drop(url)
        return {
            "lat_p50": statistics.median(lats),
            "lat_p99": pct(lats, 99),
            "lat_call_p50": statistics.median(calls),
        }

    async def m_latency_proc(self) -> dict[str, float]:
        url = self.stores.fresh("latency-proc")
        sink = Sink(Path(tempfile.mkstemp(".sink", dir=self.root)[1]))
        queue = new_queue(url, self.a.workers)
        async with queue:
            worker = WorkerProcess(url, queue.name, self.a.workers, sink.path, self._log("lat"))
            try:
                await worker.ready(self.a.timeout)
                lats, calls = await self.probe(queue, sink.started)
                raw = await self.raw_after_pauses(url)
            finally:
                worker.stop()
        self.stores.drop(url)
        return {
            "lat_proc_p50": statistics.median(lats),
            "lat_proc_p99": pct(lats, 99),
            "lat_proc_call_p50": statistics.median(calls),
            "lat_proc_raw_p50": statistics.median(raw),
        }

    # -- memory and idle cost -----------------------------------------------------------

    async def build_backlog(self) -> None:
        """Once per run: --rss-n pending jobs, written at durability=normal for speed."""
        self.backlog_url = self.stores.fresh("backlog")
        sqlite = self.stores.scheme == "sqlite"
        fill_url = with_durability(self.backlog_url, "normal") if sqlite else self.backlog_url
        queue = new_queue(fill_url, self.a.workers)
        self.backlog_queue = queue.name
        t0 = time.perf_counter()
        async with queue:
            await fill(queue, self.a.rss_n, self.a.batch)
        took = f"{self.a.rss_n:,} jobs enqueued in {time.perf_counter() - t0:.1f} s"
        if sqlite:
            size = await asyncio.to_thread(os.path.getsize, sqlite_path(self.backlog_url))
            took += f", file {size / MB:.0f} MB"
        print(f"  (setup: {took})", flush=True)

    async def rss_of(self, url: str, queue_name: str) -> tuple[float, float]:
        worker = WorkerProcess(url, queue_name, self.a.workers, None, self._log("rss"))
        try:
            await worker.ready(self.a.timeout)
            await asyncio.sleep(self.a.rss_wait)
            return worker.status("VmRSS"), worker.status("VmHWM")
        finally:
            worker.stop()

    async def m_rss(self) -> dict[str, float]:
        if self.backlog_url is None:
            await self.build_backlog()
        assert self.backlog_url is not None
        empty_url = self.stores.fresh("rss-empty")
        empty, empty_hwm = await self.rss_of(empty_url, self.backlog_queue)
        full, full_hwm = await self.rss_of(self.backlog_url, self.backlog_queue)
        self.stores.drop(empty_url)
        return {
            "rss_empty": empty,
            "rss_backlog": full,
            "rss_growth": full - empty,
            "hwm_growth": full_hwm - empty_hwm,
        }

    async def m_idle(self) -> dict[str, float]:
        url = self.stores.fresh("idle")
        worker = WorkerProcess(url, "bench-idle", self.a.workers, None, self._log("idle"))
        try:
            await worker.ready(self.a.timeout)
            await asyncio.sleep(1.0)
            cpu0, ctx0, t0 = worker.cpu_seconds(), worker.context_switches(), time.monotonic()
            await asyncio.sleep(self.a.idle_s)
            cpu1, ctx1, t1 = worker.cpu_seconds(), worker.context_switches(), time.monotonic()
        finally:
            worker.stop()
            self.stores.drop(url)
        return {
            "idle_cpu": 100 * (cpu1 - cpu0) / (t1 - t0),
            "idle_wakeups": (ctx1 - ctx0) / (t1 - t0),
        }

    def _log(self, what: str) -> Path:
        return Path(tempfile.mkstemp(f".{what}.log", dir=self.root)[1])

    async def run(self, measure: str) -> dict[str, float]:
        method = getattr(self, "m_" + measure.replace("-", "_"))
        return await asyncio.wait_for(method(), self.a.timeout * 3)

    async def close(self) -> None:
        if self.backlog_url is not None:
            self.stores.drop(self.backlog_url)


# ----------------------------------------------------------------------------- report
def command_for(measure: str | None, script: str = __file__) -> str:
    """The command that re-makes one measure (or, with None, this whole run) of ``script``."""
    argv, skip = [], False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
            continue
        if measure is not None and arg in ("--only", "--json"):
            skip = True
            continue
        if measure is not None and arg.startswith(("--only=", "--json=")):
            continue
        argv.append(arg)
    if measure is not None:
        argv = ["--only", measure, *argv]
    python = os.path.relpath(sys.executable)
    if python.startswith(".."):
        python = "python"
    return shlex.join([python, os.path.relpath(script), *argv])


def fmt(value: float, unit: str) -> str:
    if unit in ("jobs/s", "ops/s", "1/s"):
        return f"{value:,.0f}"
    if unit == "ratio":
        return f"{value:.2f}"
    return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"


def summary_row(
    key: str,
    what: str,
    unit: str,
    values: list[float],
    goal: tuple[str, float] | None,
    command: str,
) -> dict[str, Any]:
    """One figure's line of the summary: median, spread, target and verdict."""
    median = statistics.median(values)
    return {
        "figure": key,
        "what": what,
        "unit": unit,
        "median": median,
        "min": min(values),
        "max": max(values),
        "reps": len(values),
        "target": "" if goal is None else f"{goal[0]} {goal[1]:g}",
        "verdict": verdict(goal, median),
        "command": command,
    }


def summary(results: dict[str, list[float]], scheme: str) -> list[dict[str, Any]]:
    rows = []
    for key, figure in FIGURES.items():
        values = results.get(key)
        if not values:
            continue
        label = RAW_LABELS.get(family(scheme), figure.label)
        what = label if key == "raw_commit" else figure.label
        goal, command = target_for(key, scheme), command_for(figure.measure)
        rows.append(summary_row(key, what, figure.unit, values, goal, command))
    return rows


def print_summary(rows: list[dict[str, Any]]) -> None:
    print("\n| figure | median | min-max | reps | target | verdict | command |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        spread = f"{fmt(r['min'], r['unit'])}-{fmt(r['max'], r['unit'])}"
        print(
            f"| {r['what']} | {fmt(r['median'], r['unit'])} {r['unit']} | {spread} |"
            f" {r['reps']} | {r['target']} {r['unit'] if r['target'] else ''} |"
            f" {r['verdict']} | `{r['command']}` |"
        )


async def run_reps(
    bench: Any, reps: int, measures: list[str], figures: dict[str, Figure]
) -> tuple[dict[str, list[float]], list[str]]:
    """``reps`` rounds of ``await bench.run(measure)`` for each measure, then its close().

    Returns every figure's values, one per repetition, and the errors met (a measure
    that fails is reported and the others go on).
    """
    results: dict[str, list[float]] = {}
    errors: list[str] = []
    try:
        for rep in range(1, reps + 1):
            for measure in measures:
                try:
                    values = await bench.run(measure)
                except Exception as exc:
                    errors.append(f"rep {rep} {measure}: {type(exc).__name__}: {exc}")
                    print(f"[rep {rep}] {measure}: ERROR {errors[-1]}", flush=True)
                    continue
                shown = ", ".join(
                    f"{k} {fmt(v, figures[k].unit)} {figures[k].unit}" for k, v in values.items()
                )
                print(f"[rep {rep}] {measure}: {shown}", flush=True)
                for key, value in values.items():
                    results.setdefault(key, []).append(value)
    finally:
        await bench.close()
    return results, errors


def run_interleaved(
    args: argparse.Namespace,
    measures: list[str],
    figures: dict[str, Figure],
    make_bench: Callable[[Path], Any],
    command: str,
) -> tuple[dict[str, list[float]], list[str]]:
    """Print the run, then :func:`run_reps` in a temp folder of its own, removed after."""
    print(f"command: {command}")
    print(f"conveyor on {args.url}; {args.reps} rep(s) of: {', '.join(measures)}", flush=True)
    root = Path(tempfile.mkdtemp(prefix="conveyor-bench-"))
    try:
        return asyncio.run(run_reps(make_bench(root), args.reps, measures, figures))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_options(
    ap: argparse.ArgumentParser, measures: list[str], default_url: str, url_note: str = ""
) -> None:
    """The options of a bench run by :func:`run_interleaved`: --only, --reps, --url, ..."""
    ap.add_argument(
        "--only",
        default=",".join(measures),
        help=f"comma list of measures (default all): {', '.join(measures)}",
    )
    ap.add_argument("--reps", type=int, default=3, help="repetitions; the summary gives medians")
    ap.add_argument(
        "--url",
        default=default_url,
        help=f"store URL; {{dir}} becomes a fresh temp folder per run (default {default_url}"
        f"{url_note})",
    )
    ap.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="bound on every wait (a whole measure: 3x this)",
    )
    ap.add_argument("--json", help="also write the raw figures and the summary here")


def chosen(only: str, known: list[str]) -> list[str]:
    """The measures ``--only`` names; exit naming the known ones if one is unknown."""
    measures = [m for m in only.split(",") if m]
    unknown = set(measures) - set(known)
    if unknown:
        sys.exit(f"unknown measure(s): {sorted(unknown)}; known: {', '.join(known)}")
    return measures


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    run_options(ap, MEASURES, DEFAULT_URL, ", i.e. durability=full")
    ap.add_argument(
        "--n",
        type=int,
        default=10_000,
        help="jobs per enqueue / concurrent / drain run (default 10,000)",
    )
    ap.add_argument("--workers", type=int, default=10, help="worker concurrency (default 10)")
    ap.add_argument("--producers", type=int, default=50, help="concurrent enqueue tasks")
    ap.add_argument("--bulk-n", type=int, default=100_000, help="jobs in the enqueue_many run")
    ap.add_argument("--batch", type=int, default=1_000, help="enqueue_many batch size")
    ap.add_argument("--lat-n", type=int, default=200, help="jobs timed in a latency run")
    ap.add_argument("--rss-n", type=int, default=1_000_000, help="backlog of the RSS run")
    ap.add_argument(
        "--rss-wait", type=float, default=5.0, help="seconds a worker runs before its RSS is read"
    )
    ap.add_argument("--idle-s", type=float, default=10.0, help="seconds of idle CPU measured")
    return ap.parse_args()


def main() -> int:
    args = parse_args()
    measures = chosen(args.only, MEASURES)
    scheme = urlsplit(args.url).scheme
    if scheme == "memory":
        measures = [m for m in measures if m not in CROSS_PROCESS]
    command = command_for(None)
    results, errors = run_interleaved(
        args, measures, FIGURES, lambda root: Bench(args, root), command
    )
    return report(summary(results, scheme), results, errors, args.json, command)


def report(
    rows: list[dict[str, Any]],
    results: dict[str, list[float]],
    errors: list[str],
    json_path: str | None,
    command: str,
) -> int:
    """Print the summary and the errors, write the JSON file if asked; the exit status."""
    print_summary(rows)
    for error in errors:
        print(f"error: {error}")
    if json_path:
        Path(json_path).write_text(
            json.dumps(
                {"command": command, "raw": results, "summary": rows, "errors": errors}, indent=1
            )
        )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
