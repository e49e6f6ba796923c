"""The job commands as a user runs them: ``stats``, ``jobs …``, ``enqueue``,
``retry-failed``, ``purge``, ``watch`` — real processes on a real store (a SQLite file of
the test's own; one round on Redis and PostgreSQL too)."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import pytest
from it_support import Processes, run_cli

from conveyor import JobStatus, Queue
from conveyor.stores import Outcome
from servers import POSTGRES, REDIS, namespace_on

APP = "workerapp:queue"


def cli(procs: Processes, tmp_path: Path, *args: str) -> str:
    result = run_cli(*args, env=procs.env(), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def fail(queue: Queue, job_ids: list[str]) -> None:
    """Make ``job_ids`` failed (claimed and settled as out of tries)."""

    async def settle() -> None:
        claimed = await queue.store.claim([queue.name], len(job_ids), "w", 30.0)
        outcomes = [Outcome(r.id, "w", r.attempts, JobStatus.FAILED, error="boom") for r in claimed]
        await queue.store.settle(outcomes)

    queue.sync.portal.call(settle())


def test_enqueue_stats_list_show(procs: Processes, tmp_path: Path, queue: Queue) -> None:
    job_id = cli(procs, tmp_path, "enqueue", APP, "--name", "record", "--payload", '{"a": 1}',
                 "--priority", "high").strip()  # fmt: skip
    later = cli(procs, tmp_path, "enqueue", APP, "--name", "record", "--delay", "1h").strip()
    job = queue.sync.get_job(job_id)
    assert job is not None
    assert (job.payload, job.config.priority.name) == ({"a": 1}, "HIGH")
    assert queue.sync.get_job(later).status is JobStatus.SCHEDULED  # type: ignore[union-attr]

    counts = json.loads(cli(procs, tmp_path, "stats", APP, "--json"))
    assert (counts["pending"], counts["scheduled"], counts["total"]) == (1, 1, 2)
    assert counts["completed_last_minute"] == 0
    table = cli(procs, tmp_path, "stats", APP)
    assert "pending" in table
    assert "last minute: 0 completed, 0 failed" in table

    listed = cli(procs, tmp_path, "jobs", "list", APP, "--status", "pending", "--json")
    assert [json.loads(line)["id"] for line in listed.splitlines()] == [job_id]
    assert job_id in cli(procs, tmp_path, "jobs", "list", APP)
    shown = json.loads(cli(procs, tmp_path, "jobs", "show", APP, job_id, "--json"))
    assert (shown["name"], shown["payload"], shown["priority"]) == ("record", {"a": 1}, "HIGH")
    assert re.search(rf"^id +{job_id}$", cli(procs, tmp_path, "jobs", "show", APP, job_id), re.M)


def test_jobs_by_name_retry_cancel_delete(procs: Processes, tmp_path: Path, queue: Queue) -> None:
    ids = queue.sync.enqueue_many([("record", n) for n in range(3)] + [("hold", {})])
    named = cli(procs, tmp_path, "jobs", "list", APP, "--name", "hold", "--json")
    assert [json.loads(line)["id"] for line in named.splitlines()] == [ids[3]]
    out = cli(procs, tmp_path, "jobs", "cancel", APP, ids[0], ids[1])
    assert out.splitlines() == [f"cancel {ids[0]}", f"cancel {ids[1]}"]
    assert cli(procs, tmp_path, "jobs", "retry", APP, ids[0]).strip() == f"retry {ids[0]}"
    assert cli(procs, tmp_path, "jobs", "delete", APP, ids[2]).strip() == f"delete {ids[2]}"
    assert queue.sync.get_job(ids[2]) is None
    refused = run_cli("jobs", "retry", APP, ids[3], env=procs.env(), cwd=tmp_path)
    assert refused.returncode == 1
    assert refused.stdout.strip() == f"could not retry {ids[3]}"
    missing = run_cli("jobs", "show", APP, "nope", env=procs.env(), cwd=tmp_path)
    assert missing.returncode == 1
    assert "no job with id 'nope'" in missing.stderr


def test_retry_failed_and_purge_count_first(procs: Processes, tmp_path: Path, queue: Queue) -> None:
    ids = queue.sync.enqueue_many([("record", n) for n in range(5)])
    fail(queue, ids)
    assert cli(procs, tmp_path, "retry-failed", APP, "--dry-run").strip() == (
        "5 job(s) would be retried"
    )
    assert queue.sync.get_stats().failed == 5
    assert cli(procs, tmp_path, "retry-failed", APP).strip() == "5 job(s) retried"
    assert queue.sync.get_stats().pending == 5
    assert cli(
        procs, tmp_path, "purge", APP, "--status", "pending", "--older-than", "1h"
    ).strip() == ("no job to be deleted")
    assert cli(procs, tmp_path, "jobs", "cancel-all", APP, "--dry-run").strip() == (
        "5 job(s) would be cancelled"
    )
    assert cli(procs, tmp_path, "jobs", "cancel-all", APP).strip() == "5 job(s) cancelled"
    assert queue.sync.get_stats().cancelled == 5
    assert cli(procs, tmp_path, "purge", APP, "--status", "cancelled").strip() == (
        "5 job(s) deleted"
    )
    assert queue.sync.get_stats().total == 0


def test_bulk_enqueue_from_a_json_lines_file(
    procs: Processes, tmp_path: Path, queue: Queue
) -> None:
    lines = tmp_path / "jobs.jsonl"
    lines.write_text("".join(json.dumps({"n": n}) + "\n" for n in range(2500)))
    out = cli(procs, tmp_path, "enqueue", APP, "--name", "record", "--from-file", str(lines))
    assert out.strip() == "2,500 job(s) enqueued"
    assert queue.sync.get_stats().pending == 2500
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"n": 1}\n{oops\n')
    result = run_cli("enqueue", APP, "--name", "record", "--from-file", str(bad),
                     env=procs.env(), cwd=tmp_path)  # fmt: skip
    assert result.returncode == 1
    assert "bad.jsonl:2: not JSON" in result.stderr


def test_watch_refreshes_then_stops(procs: Processes, tmp_path: Path, queue: Queue) -> None:
    queue.sync.enqueue("record", 1)
    out = cli(procs, tmp_path, "watch", APP, "--interval", "0.2", "--count", "2")
    assert "pending" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("stats",), "give a TARGET (module:queue), --url or CONVEYOR_URL"),
        (("purge", APP, "--status", "completed", "--older-than", "soon"), "not an age"),
        (("enqueue", APP, "--name", "record", "--payload", "{oops"), "not JSON"),
        (("enqueue", APP, "--name", "nope"), "no handler registered for job name 'nope'"),
        (("stats", "--url", "redis://:s3cret@127.0.0.1:1/0"), "redis://:***@127.0.0.1:1/0"),
    ],
)
def test_errors_are_one_line(
    procs: Processes, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    env = procs.env()
    if args == ("stats",):
        env.pop("CONVEYOR_URL")
    result = run_cli(*args, env=env, cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert "s3cret" not in result.stderr


@pytest.mark.parametrize("server", [REDIS, POSTGRES], ids=["redis", "postgres"])
def test_the_commands_work_on_a_url_without_an_app(
    procs: Processes, tmp_path: Path, server: str
) -> None:
    with namespace_on(server) as url:
        env = procs.env()
        env.pop("CONVEYOR_URL")

        def run(*args: str) -> str:
            result = run_cli(*args, "--url", url, "--queue", "mail", env=env, cwd=tmp_path)
            assert result.returncode == 0, result.stderr
            return result.stdout

        job_id = run("enqueue", "--name", "send", "--payload", '"hi"').strip()
        assert json.loads(run("stats", "--json"))["pending"] == 1
        assert json.loads(run("jobs", "show", job_id, "--json"))["payload"] == "hi"
        assert run("purge", "--status", "pending").strip() == "1 job(s) deleted"


def test_workers_lists_the_worker_processes(procs: Processes, tmp_path: Path) -> None:
    worker = procs.worker("worker", "--concurrency", "3")
    listed = [
        json.loads(line) for line in cli(procs, tmp_path, "workers", APP, "--json").splitlines()
    ]
    assert [(w["pid"], w["queues"], w["concurrency"]) for w in listed] == [
        (worker.pid, ["default"], 3)
    ]
    assert f":{worker.pid}" in cli(procs, tmp_path, "workers", APP)
    worker.signal(signal.SIGTERM)
    assert worker.wait(15) == 0
    assert cli(procs, tmp_path, "workers", APP).strip() == "no worker alive"
