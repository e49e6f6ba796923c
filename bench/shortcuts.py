"""What each speed shortcut earns: a figure users see, with the shortcut and without.

    .venv/bin/python bench/shortcuts.py                       # every shortcut, 5 reps
    .venv/bin/python bench/shortcuts.py --only one-insert --reps 7

A shortcut is a second way to do one thing, kept only for speed. Each one here is
measured on the figure it is for (an enqueue rate, a drain rate), on the store where
it matters, in interleaved repetitions: once as the code is, once with the shortcut
replaced by the plain way (patched in for that measurement only). The project keeps a
shortcut only if the median gain is at least 10 % (docs/architecture.md, "One path per
operation"); the code of each kept one points here. Measured and removed on
2026-12-07 (gain within noise): a hand-made ``asyncio.timeout`` for jobs' time limits
(+1 % on a drain of jobs with a timeout, Redis).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conveyor import create_queue

HERE = Path(__file__).resolve().parent
sys.path.append(str(HERE.parent / "tests"))  # servers.py: a namespace per run on a server
from servers import drop_namespace, namespaced  # noqa: E402

REDIS = "redis://127.0.0.1:6379/14"
POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
SQLITE = "sqlite:///{dir}/shortcuts.db"


@dataclass(frozen=True)
class Shortcut:
    name: str
    what: str  # the figure, as users see it
    url: str
    measure: Callable[[str], Awaitable[float]]  # the figure's rate on a fresh store
    plain: Callable[[], Any]  # a context manager: the plain way patched in


@contextmanager
def patched(target: object, attribute: str, value: object) -> Iterator[None]:
    saved = target.__dict__[attribute] if isinstance(target, type) else getattr(target, attribute)
    setattr(target, attribute, value)
    try:
        yield
    finally:
        setattr(target, attribute, saved)


# ------------------------------------------------------------------------------ figures
async def noop(job: object) -> None:
    return None


def _queue(url: str, workers: int = 10) -> Any:
    queue = create_queue(url=url, workers=workers, name="shortcuts")
    queue.register("noop", noop)
    return queue


async def enqueue_one(url: str, count: int = 2000) -> float:
    """``await queue.enqueue("noop", {...})`` one at a time: jobs/s."""
    async with _queue(url) as queue:
        await queue.enqueue("noop", {"i": -1})
        started = time.perf_counter()
        for i in range(count):
            await queue.enqueue("noop", {"i": i})
        return count / (time.perf_counter() - started)


def sync_enqueue_one(url: str, count: int = 2000) -> float:
    """``queue.sync.enqueue("noop", {...})`` from a thread with no loop: jobs/s."""
    queue = _queue(url)
    try:
        queue.sync.enqueue("noop", {"i": -1})
        started = time.perf_counter()
        for i in range(count):
            queue.sync.enqueue("noop", {"i": i})
        return count / (time.perf_counter() - started)
    finally:
        queue.sync.close()


async def sync_enqueue(url: str) -> float:
    return await asyncio.to_thread(sync_enqueue_one, url)


async def enqueue_concurrent(url: str, count: int = 10_000, tasks: int = 50) -> float:
    """``await queue.enqueue("noop", {...})`` from 50 tasks at once: jobs/s."""
    async with _queue(url) as queue:
        await queue.enqueue("noop", {"i": -1})

        async def produce(first: int) -> None:
            for i in range(first, count, tasks):
                await queue.enqueue("noop", {"i": i})

        started = time.perf_counter()
        await asyncio.gather(*(produce(first) for first in range(tasks)))
        return count / (time.perf_counter() - started)


async def enqueue_many(url: str, count: int = 50_000, batch: int = 1000) -> float:
    """``await queue.enqueue_many([("noop", {...}), ...])`` in batches of 1,000: jobs/s."""
    async with _queue(url) as queue:
        started = time.perf_counter()
        for first in range(0, count, batch):
            await queue.enqueue_many([("noop", {"i": i}) for i in range(first, first + batch)])
        return count / (time.perf_counter() - started)


async def drain(url: str, count: int = 20_000) -> float:
    """A worker (``workers=10``, in-process) drains a backlog of no-op jobs: jobs/s."""
    done = asyncio.Event()
    ran = 0

    async def counted(job: object) -> None:
        nonlocal ran
        ran += 1
        if ran == count:
            done.set()

    queue = create_queue(url=url, workers=10, name="shortcuts")
    queue.register("noop", counted)
    async with queue:
        for first in range(0, count, 1000):
            await queue.enqueue_many([("noop", {"i": i}) for i in range(first, first + 1000)])
        started = time.perf_counter()
        await queue.start()
        await asyncio.wait_for(done.wait(), 120)
        return count / (time.perf_counter() - started)


# ------------------------------------------------------------------------ plain ways
def plain_record_cache() -> Any:
    """Every option-less enqueue builds its record in full."""
    from conveyor.client.records import RecordFactory

    class Forgets(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            return default

        def __setitem__(self, key: str, value: Any) -> None:
            return None

    build = RecordFactory.build

    def without_cache(self: Any, *args: Any, **kwargs: Any) -> Any:
        self._plain = Forgets()
        return build(self, *args, **kwargs)

    return patched(RecordFactory, "build", without_cache)


def plain_many_copy() -> Any:
    """``enqueue_many`` builds each ``(name, payload)`` record as any other item."""
    from conveyor.client.records import RecordFactory
    from conveyor.ids import new_job_ids

    def many(self: Any, jobs: Any) -> Any:
        specs = list(jobs)
        records = [self.spec(index, spec) for index, spec in enumerate(specs)]
        for record, job_id in zip(records, new_job_ids(len(records)), strict=True):
            record.id = job_id
        return records

    return patched(RecordFactory, "many", many)


def plain_event_json() -> Any:
    """Event messages made by ``json.dumps`` (Redis's job:added, PostgreSQL's NOTIFYs)."""
    import json

    compact = {"separators": (",", ":")}

    def encode_events(origin: str, events: Any) -> str:
        return json.dumps({"o": origin, "e": [[e.event, e.job_id, e.queue] for e in events]},
                          **compact)  # fmt: skip

    def encode_event(origin: str, event: str, job_id: str, queue: str) -> str:
        return json.dumps({"o": origin, "e": [[event, job_id, queue]]}, **compact)

    def messages(origin: str, batch: Any) -> list[str]:
        head = '{"o":' + json.dumps(origin) + ',"e":['
        found: list[str] = []
        parts: list[str] = []
        size = len(head) + 2
        for event in batch:
            part = json.dumps([event.event, event.job_id, event.queue], **compact)
            if parts and size + 1 + len(part) > 7999:
                found.append(head + ",".join(parts) + "]}")
                parts, size = [], len(head) + 2
            size += len(part) + (1 if parts else 0)
            parts.append(part)
        found.append(head + ",".join(parts) + "]}")
        return found

    plain = {"encode_events": encode_events, "encode_event": encode_event, "messages": messages}
    managers = [
        patched(module, name, value)
        for module in list(sys.modules.values())
        if (module.__name__ or "").startswith("conveyor.stores")
        for name, value in plain.items()
        if hasattr(module, name)
    ]
    return _all(managers)


@contextmanager
def _all(managers: list[Any]) -> Iterator[None]:
    for manager in managers:
        manager.__enter__()
    try:
        yield
    finally:
        for manager in reversed(managers):
            manager.__exit__(None, None, None)


def plain_one_insert() -> Any:
    """PostgreSQL stores one new job with the statement for many."""
    modules = [m for m in list(sys.modules.values()) if hasattr(m, "record_params")]
    from conveyor.stores.channel import StoreEvent

    codec = importlib.import_module("conveyor.stores.postgres._codec")
    params = codec.record_params

    def record_params(records: Any, origin: str) -> Any:
        if len(records) == 1:  # the many-row shape for one row: two copies, minus one
            many = params([records[0], records[0]], origin)
            one = {key: type(value)(value[:1]) for key, value in many.items()}
            added = [StoreEvent("job:added", records[0].id, records[0].queue)]
            one["messages"] = type(many["messages"])(codec.messages(origin, added))
            return one
        return params(records, origin)

    store_class = importlib.import_module("conveyor.stores.postgres").PostgresStore
    owner = next(c for c in store_class.__mro__ if "_insert_for" in c.__dict__)
    managers = [patched(module, "record_params", record_params) for module in modules]
    managers.append(patched(owner, "_insert_for", lambda self, records: self._q.enqueue_many))
    return _all(managers)


STORE_CLASSES = {"sqlite": "SQLiteStore", "redis": "RedisStore", "postgres": "PostgresStore"}


def plain_blocking_enqueue(store: str = "sqlite") -> Any:
    """``queue.sync.enqueue`` goes through the portal's event loop, as on the memory store."""
    store_class = getattr(importlib.import_module(f"conveyor.stores.{store}"), STORE_CLASSES[store])
    owner = next(c for c in store_class.__mro__ if "writes_here" in c.__dict__)
    return patched(owner, "writes_here", property(lambda self: False))


def plain_settles_alone() -> Any:
    """Redis sends each batch of outcomes on its own, never in front of a claim."""
    from conveyor.stores._coalesce import Coalescer

    return patched(Coalescer, "take", lambda self: [])


def plain_one_lane() -> Any:
    """A Redis worker keeps one claim in flight (for all its free slots), as other stores."""
    from dataclasses import replace

    from conveyor.stores.redis import RedisStore

    return patched(RedisStore, "capabilities", replace(RedisStore.capabilities, claim_lanes=1))


SHORTCUTS = [
    Shortcut("record-cache", "enqueue one at a time, awaited (Redis)", REDIS,
             enqueue_one, plain_record_cache),
    Shortcut("record-cache-50", "enqueue from 50 tasks at once (SQLite)", SQLITE,
             enqueue_concurrent, plain_record_cache),
    Shortcut("record-cache-50-redis", "enqueue from 50 tasks at once (Redis)", REDIS,
             enqueue_concurrent, plain_record_cache),
    Shortcut("many-copy", "enqueue_many, batches of 1,000 (Redis)", REDIS,
             enqueue_many, plain_many_copy),
    Shortcut("event-json-redis", "enqueue one at a time, awaited (Redis)", REDIS,
             enqueue_one, plain_event_json),
    Shortcut("event-json", "enqueue one at a time, awaited (PostgreSQL)", POSTGRES,
             enqueue_one, plain_event_json),
    Shortcut("event-json-many", "enqueue_many, batches of 1,000 (PostgreSQL)", POSTGRES,
             enqueue_many, plain_event_json),
    Shortcut("one-insert", "enqueue one at a time, awaited (PostgreSQL)", POSTGRES,
             enqueue_one, plain_one_insert),
    Shortcut("blocking-enqueue", "queue.sync.enqueue one at a time (SQLite)", SQLITE,
             sync_enqueue, plain_blocking_enqueue),
    Shortcut("blocking-enqueue-redis", "queue.sync.enqueue one at a time (Redis)", REDIS,
             sync_enqueue, lambda: plain_blocking_enqueue("redis")),
    Shortcut("blocking-enqueue-pg", "queue.sync.enqueue one at a time (PostgreSQL)", POSTGRES,
             sync_enqueue, lambda: plain_blocking_enqueue("postgres")),
    Shortcut("settles-with-claims", "drain of a backlog, in-process worker (Redis)", REDIS,
             drain, plain_settles_alone),
    Shortcut("claim-lanes", "drain of a backlog, in-process worker (Redis)", REDIS,
             drain, plain_one_lane),
]  # fmt: skip


# ------------------------------------------------------------------------------- main
async def one_run(shortcut: Shortcut, root: Path, plain: bool) -> float:
    url = shortcut.url.format(dir=tempfile.mkdtemp(dir=root))
    if not url.startswith("sqlite"):
        url = namespaced(url)
    try:
        if plain:
            with shortcut.plain():
                return await shortcut.measure(url)
        return await shortcut.measure(url)
    finally:
        if not url.startswith("sqlite"):
            drop_namespace(url)


async def main_async(args: argparse.Namespace) -> int:
    chosen = [s for s in SHORTCUTS if not args.only or s.name in args.only.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for shortcut in chosen:
            kept: list[float] = []
            plain: list[float] = []
            await one_run(shortcut, root, False)  # warm up: imports, scripts, connections
            for rep in range(args.reps):
                for is_plain in (rep % 2 == 1, rep % 2 == 0):  # alternate which goes first
                    (plain if is_plain else kept).append(await one_run(shortcut, root, is_plain))
            gain = statistics.median(kept) / statistics.median(plain) - 1
            rows.append((shortcut, statistics.median(kept), statistics.median(plain), gain))
            print(
                f"{shortcut.name:22} {shortcut.what:47} with {statistics.median(kept):9,.0f}"
                f"  without {statistics.median(plain):9,.0f}  gain {gain:+6.1%}"
                f"  {'KEEP' if gain >= 0.10 else 'remove'}",
                flush=True,
            )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="comma-separated shortcut names")
    parser.add_argument("--reps", type=int, default=5)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
