"""The ``conveyor`` command as a user runs it: real processes, a real SQLite file."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from it_support import Processes, run_cli, wait_for
from prometheus_client.parser import text_string_to_metric_families

from conveyor import JobStatus, Queue, __version__
from servers import free_port


def started(markers: Path, job_id: str) -> list[Path]:
    return sorted(markers.glob(f"{job_id}.started.*"))


def test_version(procs: Processes, tmp_path: Path) -> None:
    result = run_cli("--version", env=procs.env(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"conveyor, version {__version__}"


def test_version_of_the_console_script(procs: Processes, tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("conveyor")
    if not script.exists():
        pytest.skip("the conveyor console script is not installed next to this Python")
    result = subprocess.run(
        [str(script), "--version"],
        env=procs.env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"conveyor, version {__version__}"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nosuchmodule:queue", "cannot import module 'nosuchmodule'"),
        ("workerapp:nosuchattr", "module 'workerapp' has no attribute 'nosuchattr'"),
        ("workerapp:create_queue", "not a conveyor Queue"),
    ],
)
def test_worker_with_a_bad_target_says_so_in_one_line(
    procs: Processes, tmp_path: Path, target: str, message: str
) -> None:
    result = run_cli("worker", target, env=procs.env(), cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert message in lines[0]


def test_worker_with_a_bad_store_url_says_so_in_one_line(procs: Processes, tmp_path: Path) -> None:
    result = run_cli(
        "worker", "workerapp:queue", env=procs.env(CONVEYOR_URL="nosuch://x"), cwd=tmp_path
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "unknown store URL scheme 'nosuch'" in lines[0]


def test_demo_runs_to_the_end(procs: Processes, tmp_path: Path, db_url: str) -> None:
    result = run_cli("demo", env=procs.env(CONVEYOR_URL=db_url), cwd=tmp_path, timeout=25)
    assert result.returncode == 0, result.stdout + result.stderr
    found = re.search(r"(\d+) completed, (\d+) failed", result.stdout)
    assert found, result.stdout
    assert (int(found[1]), int(found[2])) == (11, 1)
    assert "pending 0, scheduled 0" in result.stdout
    assert Path(db_url.removeprefix("sqlite:///")).exists()
    assert not (tmp_path / "conveyor.db").exists()


@pytest.mark.slow
def test_sigterm_lets_the_running_job_finish_and_exits_0(
    procs: Processes, queue: Queue, markers: Path
) -> None:
    worker = procs.worker("worker", "--concurrency", "1", "--grace", "10")
    running = queue.sync.enqueue("hold", {"seconds": 1.0})
    waiting = queue.sync.enqueue("hold", {"seconds": 1.0})
    wait_for(lambda: started(markers, running), 10, "the first job to start")

    worker.signal(signal.SIGTERM)
    assert worker.wait(15) == 0, worker.log()

    job = queue.sync.get_job(running)
    assert job is not None
    assert (job.status, job.attempts, job.result) == (JobStatus.COMPLETED, 1, {"pid": worker.pid})
    assert (markers / f"{running}.done.{worker.pid}").exists()
    # After the signal the worker took no new job: the second one is still waiting.
    other = queue.sync.get_job(waiting)
    assert other is not None
    assert (other.status, other.attempts) == (JobStatus.PENDING, 0)
    assert not started(markers, waiting)
    assert "SIGTERM received" in worker.log()


@pytest.mark.slow
def test_sigterm_after_grace_puts_the_job_back_for_another_worker(
    procs: Processes, queue: Queue, markers: Path
) -> None:
    first = procs.worker("first", "--concurrency", "1", "--grace", "0.3")
    job_id = queue.sync.enqueue("hold", {"seconds": 60})
    wait_for(lambda: started(markers, job_id), 10, "the job to start")

    first.signal(signal.SIGTERM)
    assert first.wait(10) == 0, first.log()
    job = queue.sync.get_job(job_id)
    assert job is not None
    assert (job.status, job.attempts) == (JobStatus.PENDING, 0)  # the attempt is not counted
    assert not list(markers.glob(f"{job_id}.done.*"))

    (markers / "release").touch()
    second = procs.worker("second", "--concurrency", "1")
    job = queue.sync.wait(job_id, timeout=15)
    assert (job.status, job.attempts, job.result) == (JobStatus.COMPLETED, 1, {"pid": second.pid})
    assert {p.name for p in started(markers, job_id)} == {
        f"{job_id}.started.1.{first.pid}",
        f"{job_id}.started.1.{second.pid}",
    }
    second.signal(signal.SIGTERM)
    assert second.wait(10) == 0, second.log()


def test_schedules_list_pause_resume_remove(procs: Processes, tmp_path: Path, db_url: str) -> None:
    env = procs.env(IT_CRON="0 3 * * *")
    worker = procs.worker("worker", IT_CRON="0 3 * * *")  # registers the schedule
    worker.signal(signal.SIGTERM)
    assert worker.wait(15) == 0, worker.log()

    listed = run_cli("schedules", "list", "workerapp:queue", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == [
        "KEY", "JOB", "SCHEDULE", "TIMEZONE", "NEXT", "RUN", "LAST", "RUN", "LAST", "JOB", "STATE",
    ]  # fmt: skip
    assert row.startswith("tick  tick  0 3 * * *  UTC")
    assert re.search(r"\d{4}-\d\d-\d\d 03:00:00 UTC", row)
    assert row.endswith("active")

    for action, state in (("pause", "paused"), ("resume", "active")):
        done = run_cli("schedules", action, "workerapp:queue", "tick", env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"{action}d tick"
        as_json = run_cli("schedules", "list", "workerapp:queue", "--json", env=env, cwd=tmp_path)
        (line,) = as_json.stdout.splitlines()
        assert json.loads(line)["paused"] is (state == "paused")

    missing = run_cli("schedules", "pause", "workerapp:queue", "nope", env=env, cwd=tmp_path)
    assert missing.returncode == 1
    assert "has no schedule 'nope'" in missing.stderr
    assert "Traceback" not in missing.stderr

    removed = run_cli("schedules", "remove", "workerapp:queue", "tick", env=env, cwd=tmp_path)
    assert removed.returncode == 0, removed.stderr
    empty = run_cli("schedules", "list", "workerapp:queue", env=env, cwd=tmp_path)
    assert empty.stdout.strip() == "no schedules"


def test_worker_logs_a_json_line_per_started_and_finished_attempt(
    procs: Processes, tmp_path: Path, queue: Queue
) -> None:
    worker = procs.worker("worker", "--log-format", "json")
    job_id = queue.sync.enqueue("record", {})
    queue.sync.wait(job_id, timeout=15)
    worker.signal(signal.SIGTERM)
    assert worker.wait(15) == 0
    lines = [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
    assert any(" serving default with 4 job(s) at once" in line["message"] for line in lines)
    started, done = [line for line in lines if line.get("job_id") == job_id]
    assert (started["status"], started["attempt"], started["job_name"]) == (
        "processing", 1, "record"
    )  # fmt: skip
    assert started["message"] == f"job {job_id} (record) attempt 1 started"
    assert (done["level"], done["logger"], done["job_name"]) == (
        "INFO",
        "conveyor.worker",
        "record",
    )
    assert (done["attempt"], done["status"], done["queue"]) == (1, "completed", "default")
    assert done["duration_ms"] >= 0
    assert done["message"].startswith(f"job {job_id} (record) attempt 1 completed in ")


def test_worker_serves_prometheus_metrics(procs: Processes, tmp_path: Path, queue: Queue) -> None:
    port = free_port()
    worker = procs.worker("worker", "--metrics-port", str(port))
    job_id = queue.sync.enqueue("record", {})
    queue.sync.wait(job_id, timeout=15)
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    found = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    record = (("name", "record"), ("queue", "default"))
    assert (
        found["conveyor_jobs_finished_total", (record[0], ("outcome", "completed"), record[1])] == 1
    )
    assert found["conveyor_job_run_seconds_count", record] == 1
    assert found["conveyor_queue_jobs", (("queue", "default"), ("status", "completed"))] == 1
    worker.signal(signal.SIGTERM)
    assert worker.wait(15) == 0
