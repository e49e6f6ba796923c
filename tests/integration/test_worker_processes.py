"""``conveyor worker --processes N``: a supervisor and its worker processes, real signals.

The supervisor's log holds its children's too (they inherit its stdout and stderr):
``started worker process PID (slot N)`` names each child, ``N worker process(es)
serving: PIDS`` says that every slot of a generation serves.
"""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path

import pytest
from it_support import Child, Processes, run_cli, wait_for

from conveyor import JobStatus, Queue

SERVING = re.compile(r"worker process\(es\) serving: ([\d, ]+)")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def supervise(procs: Processes, name: str, *args: str, app: str = "workerapp:queue",
              **env: str) -> Child:  # fmt: skip
    """Start ``conveyor worker APP ARGS`` and wait until all its processes serve."""
    argv = [sys.executable, "-m", "conveyor", "worker", app, *args]
    supervisor = procs.spawn(name, argv, **env)
    supervisor.wait_log("worker process(es) serving")
    return supervisor


def serving(supervisor: Child, generation: int = 0) -> list[int]:
    """The pids that served in ``generation`` (0: the first start, 1: after a SIGHUP...)."""
    found = SERVING.findall(supervisor.log())
    if len(found) <= generation:
        return []
    return [int(pid) for pid in found[generation].split(", ")]


def started_by(markers: Path, job_id: str) -> list[int]:
    """The pids that started ``job_id`` (a ``hold`` job), by its marker files."""
    return [int(p.name.rsplit(".", 1)[1]) for p in markers.glob(f"{job_id}.started.*")]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def gone(*pids: int) -> bool:
    return not any(alive(pid) for pid in pids)


def test_every_process_runs_jobs_and_sigterm_lets_running_jobs_finish(
    procs: Processes, queue: Queue, markers: Path
) -> None:
    supervisor = supervise(procs, "sup", "--processes", "2", "-c", "1", "--grace", "10")
    children = serving(supervisor)
    assert len(set(children)) == 2
    assert supervisor.pid not in children
    running = [queue.sync.enqueue("hold", {"seconds": 1.5}) for _ in range(2)]
    waiting = queue.sync.enqueue("hold", {"seconds": 1.5})
    # One job at a time each: the two run at once only if both processes run one.
    wait_for(lambda: all(started_by(markers, j) for j in running), 10, "both jobs to start")
    assert sorted(pid for j in running for pid in started_by(markers, j)) == sorted(children)

    supervisor.signal(signal.SIGTERM)
    assert supervisor.wait(15) == 0, supervisor.log()
    for job_id in running:
        job = queue.sync.get_job(job_id)
        assert job is not None
        assert (job.status, job.attempts) == (JobStatus.COMPLETED, 1)
    job = queue.sync.get_job(waiting)
    assert job is not None
    assert (job.status, job.attempts) == (JobStatus.PENDING, 0)  # nobody took it
    assert gone(*children)
    assert "SIGTERM received: stopping 2 worker process(es) gracefully" in supervisor.log()


def test_a_second_signal_puts_running_jobs_back_at_once(
    procs: Processes, queue: Queue, markers: Path
) -> None:
    supervisor = supervise(procs, "sup", "-p", "2", "-c", "1", "--grace", "60")
    jobs = [queue.sync.enqueue("hold", {"seconds": 60}) for _ in range(2)]
    wait_for(lambda: all(started_by(markers, j) for j in jobs), 10, "both jobs to start")
    supervisor.signal(signal.SIGINT)
    wait_for(lambda: supervisor.log().count("finishing running jobs") == 2, 10, "graceful stops")
    supervisor.signal(signal.SIGINT)
    assert supervisor.wait(10) == 0, supervisor.log()
    for job_id in jobs:
        job = queue.sync.get_job(job_id)
        assert job is not None
        assert (job.status, job.attempts) == (JobStatus.PENDING, 0)
    assert "SIGINT received again: passing it on" in supervisor.log()


def test_a_killed_process_is_replaced_and_its_job_recovered(
    procs: Processes, queue: Queue, markers: Path
) -> None:
    supervisor = supervise(procs, "sup", "-p", "2", "-c", "1", IT_LEASE="1")
    job_id = queue.sync.enqueue("hold", {"seconds": 60})
    (victim,) = wait_for(lambda: started_by(markers, job_id), 10, "the job to start")
    os.kill(victim, signal.SIGKILL)
    supervisor.wait_log(f"worker process {victim} was killed by SIGKILL after")
    assert "another starts in 0.5 s" in supervisor.log()
    (markers / "release").touch()
    job = queue.sync.wait(job_id, timeout=15)  # its lease runs out, another worker runs it
    assert (job.status, job.attempts) == (JobStatus.COMPLETED, 2)
    assert job.result["pid"] != victim

    def replacement() -> list[str]:
        return re.findall(r"started worker process (\d+)", supervisor.log())[2:]

    (new,) = wait_for(replacement, 10, "a replacement process")
    supervisor.wait_log(f"worker {new} serving")
    supervisor.signal(signal.SIGTERM)
    assert supervisor.wait(15) == 0, supervisor.log()


def test_a_process_recycles_itself_after_max_jobs(
    procs: Processes, queue: Queue, tmp_path: Path
) -> None:
    supervisor = supervise(procs, "sup", "--max-jobs-per-process", "3", "-c", "1")
    ids = [queue.sync.enqueue("record", {}) for _ in range(8)]
    for job_id in ids:
        assert queue.sync.wait(job_id, timeout=20).status is JobStatus.COMPLETED
    pids = [int(line.split()[1]) for line in (tmp_path / "ledger.txt").read_text().splitlines()]
    per_process = {pid: pids.count(pid) for pid in pids}
    # Stops after its 3rd job; one it claimed meanwhile (a slot frees before the
    # outcome is stored) may run too.
    assert len(per_process) >= 2, per_process
    assert max(per_process.values()) <= 4, per_process
    log = supervisor.log()
    assert "recycling: 3 job(s) done (--max-jobs-per-process 3)" in log
    assert "recycles itself: starting another" in log
    assert "another starts in" not in log  # no backoff
    supervisor.signal(signal.SIGTERM)
    assert supervisor.wait(15) == 0, log


def test_a_recycling_process_is_replaced_while_it_finishes_its_jobs(
    procs: Processes, queue: Queue, markers: Path
) -> None:
    supervisor = supervise(procs, "sup", "--max-jobs-per-process", "1", "-c", "2")
    (first,) = serving(supervisor)
    held = queue.sync.enqueue("hold", {"seconds": 60})
    wait_for(lambda: started_by(markers, held), 10, "the long job to start")
    short = queue.sync.enqueue("record", {})
    assert queue.sync.wait(short, timeout=10).status is JobStatus.COMPLETED  # its 1st job
    supervisor.wait_log(f"worker process {first} recycles itself: starting another")
    (new,) = wait_for(
        lambda: re.findall(r"started worker process (\d+)", supervisor.log())[1:], 10, "another"
    )
    supervisor.wait_log(f"worker {new} serving")
    assert alive(first)  # still running the long job
    after = queue.sync.enqueue("record", {})
    assert queue.sync.wait(after, timeout=10).status is JobStatus.COMPLETED
    (markers / "release").touch()
    job = queue.sync.wait(held, timeout=10)
    assert (job.status, job.attempts, job.result) == (JobStatus.COMPLETED, 1, {"pid": first})
    supervisor.wait_log(f"worker process {first} recycled (exited with status 75)")
    log = supervisor.log()
    assert "replaced by" not in log  # a recycling process is not told to stop
    assert "another starts in" not in log  # no backoff
    supervisor.signal(signal.SIGTERM)
    assert supervisor.wait(15) == 0


def test_a_process_recycles_itself_past_max_memory(procs: Processes, queue: Queue) -> None:
    supervisor = supervise(procs, "sup", "--max-memory-per-process", "120", "-c", "1")
    (first,) = serving(supervisor)
    small = queue.sync.enqueue("grow", {"mb": 1})
    assert queue.sync.wait(small, timeout=10).result == {"pid": first}
    big = queue.sync.enqueue("grow", {"mb": 100})
    assert queue.sync.wait(big, timeout=10).result == {"pid": first}
    supervisor.wait_log(f"worker process {first} recycled (exited with status 75)")
    after = queue.sync.enqueue("grow", {"mb": 1})
    assert queue.sync.wait(after, timeout=15).result["pid"] not in (first, supervisor.pid)
    assert re.search(r"recycling: \d+ MB resident \(--max-memory-per-process 120\)",
                     supervisor.log())  # fmt: skip
    supervisor.signal(signal.SIGTERM)
    assert supervisor.wait(15) == 0


def test_sighup_replaces_every_process_and_loses_no_job(
    procs: Processes, queue: Queue, markers: Path
) -> None:
    supervisor = supervise(procs, "sup", "-p", "2", "-c", "2")
    old = serving(supervisor)
    held = queue.sync.enqueue("hold", {"seconds": 60})
    (holder,) = wait_for(lambda: started_by(markers, held), 10, "the job to start")
    supervisor.signal(signal.SIGHUP)
    during = [queue.sync.enqueue("record", {"max_sleep": 0.01}) for _ in range(20)]
    new = wait_for(lambda: serving(supervisor, 1), 15, "the new processes to serve")
    assert not set(new) & set(old)
    idle = next(pid for pid in old if pid != holder)
    wait_for(lambda: gone(idle), 10, "the idle old process to stop")
    assert alive(holder)  # it finishes its job first
    for job_id in during:
        assert queue.sync.wait(job_id, timeout=15).status is JobStatus.COMPLETED
    (markers / "release").touch()
    job = queue.sync.wait(held, timeout=10)
    assert (job.status, job.attempts, job.result) == (JobStatus.COMPLETED, 1, {"pid": holder})
    wait_for(lambda: gone(holder), 10, "the busy old process to stop")
    after = queue.sync.enqueue("hold", {})
    assert queue.sync.wait(after, timeout=10).result["pid"] in new
    supervisor.signal(signal.SIGTERM)
    assert supervisor.wait(15) == 0, supervisor.log()


def test_processes_exit_when_the_supervisor_is_killed(procs: Processes) -> None:
    supervisor = supervise(procs, "sup", "-p", "2")
    children = serving(supervisor)
    supervisor.signal(signal.SIGKILL)
    assert supervisor.wait(5) == -signal.SIGKILL
    wait_for(lambda: gone(*children), 10, "the worker processes to exit")
    log = supervisor.log()
    assert all(f"worker {pid} stopped" in log for pid in children), log


def test_a_target_that_fails_to_load_stops_the_supervisor(procs: Processes, tmp_path: Path) -> None:
    result = run_cli("worker", "nosuchmodule:queue", "-p", "2", env=procs.env(), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "cannot import module 'nosuchmodule'" in result.stderr
    assert "before it served: stopping" in result.stderr


def test_a_target_that_sets_up_django_at_import_works_in_every_process(
    procs: Processes, queue: Queue, tmp_path: Path
) -> None:
    pytest.importorskip("django")
    (tmp_path / "it_django_settings.py").write_text(
        'SECRET_KEY = "it"\nINSTALLED_APPS: list[str] = []\nIT_GREETING = "from settings"\n'
    )
    (tmp_path / "djangojobs.py").write_text(
        "import os\n"
        "import django\n"
        "from django.conf import settings\n"
        "from conveyor import create_queue\n"
        "django.setup()\n"
        "queue = create_queue(workers=1)\n"
        "@queue.handler('greet')\n"
        "def greet(job):\n"
        "    return {'greeting': settings.IT_GREETING, 'pid': os.getpid()}\n"
    )
    supervisor = supervise(
        procs, "sup", "-p", "2", app="djangojobs:queue",
        DJANGO_SETTINGS_MODULE="it_django_settings",
    )  # fmt: skip
    children = serving(supervisor)
    job = queue.sync.wait(queue.sync.enqueue("greet"), timeout=10)
    assert job.result["greeting"] == "from settings"
    assert job.result["pid"] in children
    supervisor.signal(signal.SIGTERM)
    assert supervisor.wait(15) == 0
