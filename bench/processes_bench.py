"""CPU-bound jobs drained by ``conveyor worker --processes 1`` and by ``--processes 2``.

    .venv/bin/python bench/processes_bench.py                          # SQLite, 1,000 jobs, 3 reps
    .venv/bin/python bench/processes_bench.py --reps 5 --concurrency 1
    .venv/bin/python bench/processes_bench.py --url redis://127.0.0.1:6379/14

Each job is ``spin`` of ``cpu_jobs.py``: a plain ``def`` (so it runs on the worker's
thread pool) burning ``--work-ms`` (5) of pure-Python CPU, its loop count calibrated in
this process first. A repetition drains ``--n`` jobs, enqueued beforehand on a fresh
store, once with every ``--processes`` value (default ``1,2``; the order alternates
from one repetition to the next, so that a drift of the shared machine falls on both
alike): ``python -m conveyor worker cpu_jobs:queue --processes P --concurrency C``
from ``bench/``. Rate = N / (last job's end - first job's start), from the jobs' own
``time.time()`` records (so the processes' start-up is left out); "cores each" is
each process's CPU (all its threads) per wall second over its drain. The run fails if a
job ran twice or not at all. It prints each repetition, then the median per value, the
ratio of the medians against the first value (target: 2 processes >= 1.8x 1 process
on this 2-core machine) and the min-max of the per-repetition ratios.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from cpu_jobs import burn
from store_bench import Stores

from conveyor import create_queue

HERE = Path(__file__).resolve().parent
DEFAULT_URL = "sqlite:///{dir}/procs.db"
TARGET = 1.8


def calibrate(work_ms: float) -> int:
    """Loops of :func:`cpu_jobs.burn` that take ``work_ms`` here (median of 7 timings)."""
    loops = 10_000
    for _ in range(3):
        timings = []
        for _ in range(7):
            start = time.perf_counter()
            burn(loops)
            timings.append(time.perf_counter() - start)
        loops = max(int(loops * work_ms / 1000 / statistics.median(timings)), 1)
    return loops


def drain(url: str, processes: int, args: argparse.Namespace, loops: int, root: Path) -> float:
    """Drain ``--n`` fresh jobs with ``processes`` worker processes; return jobs/s."""
    name = f"cpu-{uuid.uuid4().hex[:8]}"
    producer = create_queue(url=url, name=name)
    try:
        for start in range(0, args.n, 1000):
            batch = range(start, min(start + 1000, args.n))
            producer.sync.enqueue_many([("spin", {"loops": loops, "i": i}) for i in batch])
    finally:
        producer.sync.close()
    sink = root / f"{name}.sink"
    log_path = root / f"{name}.log"
    env = dict(os.environ, CONVEYOR_URL=url, BENCH_QUEUE=name, BENCH_SINK=str(sink))
    argv = [sys.executable, "-m", "conveyor", "worker", "cpu_jobs:queue",
            "--processes", str(processes), "--concurrency", str(args.concurrency)]  # fmt: skip
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, cwd=HERE, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + args.timeout
        while _lines(sink) < args.n:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"drain not done: {log_path.read_text()[-3000:]}")
            time.sleep(0.05)
    finally:
        _stop(proc)
    rows = [line.split() for line in sink.read_text().splitlines()]
    if len(rows) != args.n:
        raise RuntimeError(f"{len(rows)} runs of {args.n} jobs")
    first = min(float(row[0]) for row in rows)
    last = max(float(row[1]) for row in rows)
    split = sorted(Counter(row[2] for row in rows).values(), reverse=True)
    print(f"    --processes {processes}: {args.n / (last - first):7.1f} jobs/s"
          f"  (jobs per process: {split}; cores each: {_cores(rows)})", flush=True)  # fmt: skip
    return args.n / (last - first)


def _cores(rows: list[list[str]]) -> str:
    """CPU seconds per wall second of each process, between its first and last job end."""
    found = []
    for pid in sorted({row[2] for row in rows}):
        ends = sorted((float(row[1]), float(row[3])) for row in rows if row[2] == pid)
        (wall0, cpu0), (wall1, cpu1) = ends[0], ends[-1]
        found.append(f"{(cpu1 - cpu0) / (wall1 - wall0):.2f}" if wall1 > wall0 else "-")
    return ", ".join(found)


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the worker (a supervisor passes it on); SIGKILL to its group after 15 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="store URL ({dir}: a temp folder)")
    parser.add_argument("--n", type=int, default=1000, help="jobs per drain")
    parser.add_argument("--work-ms", type=float, default=5.0, help="CPU per job, ms")
    parser.add_argument("--processes", default="1,2", help="comma-separated values compared")
    parser.add_argument("--concurrency", type=int, default=2, help="jobs at once per process")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=120.0, help="bound on one drain, s")
    args = parser.parse_args()
    values = [int(v) for v in args.processes.split(",")]
    root = Path(tempfile.mkdtemp(prefix="conveyor-procs-"))
    stores = Stores(args.url, root)
    loops = calibrate(args.work_ms)
    print(f"{stores.scheme}, {args.n} jobs of {args.work_ms:g} ms ({loops} loops),"
          f" --concurrency {args.concurrency}, {os.cpu_count()} CPUs")  # fmt: skip
    rates: dict[int, list[float]] = {value: [] for value in values}
    for rep in range(args.reps):
        print(f"  rep {rep + 1} (load average {os.getloadavg()[0]:.2f})", flush=True)
        for value in values if rep % 2 == 0 else values[::-1]:
            url = stores.fresh(f"p{value}")
            try:
                rates[value].append(drain(url, value, args, loops, root))
            finally:
                stores.drop(url)
    report(values, rates, args)


def report(values: list[int], rates: dict[int, list[float]], args: argparse.Namespace) -> None:
    base = values[0]
    print("\n| --processes | jobs/s (median) | min-max | x --processes", base, "|")
    print("|---|---|---|---|")
    for value in values:
        ratio = statistics.median(rates[value]) / statistics.median(rates[base])
        per_rep = [r / b for r, b in zip(rates[value], rates[base], strict=True)]
        print(f"| {value} | {statistics.median(rates[value]):.1f} | {min(rates[value]):.1f}-"
              f"{max(rates[value]):.1f} | {ratio:.2f} (per rep {min(per_rep):.2f}-"
              f"{max(per_rep):.2f}) |")  # fmt: skip
    if 1 in rates and 2 in rates:
        ratio = statistics.median(rates[2]) / statistics.median(rates[1])
        verdict = "PASS" if ratio >= TARGET else "FAIL"
        print(f"\n2 processes / 1: {ratio:.2f} (target >= {TARGET}): {verdict}")
    print("command:", " ".join(["bench/processes_bench.py", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
