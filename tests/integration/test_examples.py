"""The examples in ``examples/`` run as the README says, on a SQLite file of the test's own."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from it_support import ROOT, Processes, wait_for

from conveyor import Queue
from servers import POSTGRES, namespace_on

EXAMPLES = ROOT / "examples"


def run_example(
    script: str, procs: Processes, folder: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``examples/<script>`` to its end in ``folder``; fail if it did not exit 0."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        env=procs.env(**env),
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_job_queue_example_runs_to_the_end(procs: Processes, tmp_path: Path, db_url: str) -> None:
    began = time.monotonic()
    result = run_example("job_queue_example.py", procs, tmp_path, CONVEYOR_URL=db_url)
    out = result.stdout
    assert time.monotonic() - began < 15
    assert "Traceback" not in result.stderr

    stats = re.search(r"final stats: completed=(\d+) failed=(\d+) pending=0 scheduled=0", out)
    assert stats, out
    assert (int(stats[1]), int(stats[2])) == (9, 1)
    # every lifecycle event was seen
    for event in ("started on", "started (attempt 1)", "progress 100%", "retrying after",
                  "completed", "failed for good", "stopped"):  # fmt: skip
        assert event in out, f"{event!r} missing from:\n{out}"
    # the flaky report failed once, then succeeded; the missing database failed for good
    assert re.search(r"generate-report .* completed attempts=2 .*'traffic-2026-10'", out), out
    assert re.search(r"backup-database .* failed +attempts=2 FileNotFoundError", out), out
    # the delayed email did not start before its 1.5 s delay
    delayed = re.search(r"send-email +(\S+) completed attempts=1 .*later@example\.com", out)
    assert delayed, out
    started = re.search(rf"^ *(\d+\.\d+)s +send-email +{delayed[1]} started", out, re.MULTILINE)
    enqueued = re.search(r"^ *(\d+\.\d+)s +enqueued", out, re.MULTILINE)
    assert started, out
    assert enqueued, out
    assert float(started[1]) >= float(enqueued[1]) + 1.4
    # the store was the file CONVEYOR_URL named, not the default in the current folder
    assert (tmp_path / "jobs.db").exists()
    assert not (tmp_path / "conveyor.db").exists()


# -- examples/api_with_jobs.py -----------------------------------------------------------


@pytest.fixture
def api_module(monkeypatch: pytest.MonkeyPatch, db_url: str) -> ModuleType:
    """A fresh import of the API example, its queue on the test's SQLite file."""
    monkeypatch.setenv("CONVEYOR_URL", db_url)
    spec = importlib.util.spec_from_file_location(
        "api_with_jobs_under_test", EXAMPLES / "api_with_jobs.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upload_body(content: bytes, filename: str = "notes.txt") -> dict[str, str]:
    return {"filename": filename, "content": base64.b64encode(content).decode()}


def poll_until_finished(client: Any, location: str, timeout: float = 10) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        response = client.get(location)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body if body["status"] in ("completed", "failed", "cancelled") else None

    return wait_for(finished, timeout, f"{location} to finish", interval=0.05)


def test_api_upload_answers_202_and_the_job_completes(api_module: ModuleType, db_url: str) -> None:
    content = b"first line\nsecond line\n"
    with TestClient(api_module.app) as client:  # runs the lifespan: workers start and stop
        assert api_module.queue.is_running
        response = client.post("/upload", json=upload_body(content))
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        assert response.json() == {"id": job_id}
        assert response.headers["location"] == f"/jobs/{job_id}"

        body = poll_until_finished(client, response.headers["location"])
    assert not api_module.queue.is_running

    assert body["id"] == job_id
    assert body["status"] == "completed", body
    assert body["attempts"] == 1
    assert body["progress"] == 100
    assert body["error"] is None
    assert body["result"] == {
        "filename": "notes.txt",
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "lines": 2,
    }
    assert body["created_at"] <= body["started_at"] <= body["completed_at"]
    # the job is in the store the URL named, for any process to see
    assert Path(db_url.removeprefix("sqlite:///")).exists()


def test_api_many_uploads_all_complete(api_module: ModuleType) -> None:
    with TestClient(api_module.app) as client:
        locations = []
        for n in range(12):
            response = client.post("/upload", json=upload_body(f"file {n}".encode(), f"{n}.txt"))
            assert response.status_code == 202, response.text
            locations.append(response.headers["location"])
        results = [poll_until_finished(client, location) for location in locations]
    assert [r["status"] for r in results] == ["completed"] * 12
    assert [r["result"]["filename"] for r in results] == [f"{n}.txt" for n in range(12)]


def test_api_unknown_job_is_a_json_404(api_module: ModuleType) -> None:
    with TestClient(api_module.app) as client:
        response = client.get("/jobs/no-such-job")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert "no-such-job" in response.json()["detail"]


def test_api_refuses_bad_uploads(api_module: ModuleType, queue: Queue) -> None:
    with TestClient(api_module.app) as client:
        not_base64 = client.post("/upload", json={"filename": "x.txt", "content": "!!!"})
        no_name = client.post("/upload", json={"content": "aGk="})
    assert not_base64.status_code == 422
    assert not_base64.json() == {"detail": "content is not valid base64"}
    assert no_name.status_code == 422
    assert queue.sync.get_stats().total == 0  # nothing was enqueued


@pytest.mark.slow
def test_api_runs_under_uvicorn(procs: Processes, tmp_path: Path, db_url: str) -> None:
    """``uvicorn examples.api_with_jobs:app`` from the repository root, on a unix socket."""
    socket = tmp_path / "api.sock"
    server = procs.spawn(
        "uvicorn",
        [sys.executable, "-m", "uvicorn", "examples.api_with_jobs:app", "--uds", str(socket)],
        cwd=ROOT,
        CONVEYOR_URL=db_url,
    )
    server.wait_log("Application startup complete", timeout=15)
    with httpx.Client(
        transport=httpx.HTTPTransport(uds=str(socket)), base_url="http://api"
    ) as client:
        response = client.post("/upload", json=upload_body(b"hello\n"))
        assert response.status_code == 202, response.text
        body = poll_until_finished(client, response.headers["location"])
    assert body["status"] == "completed", body
    assert body["result"]["sha256"] == hashlib.sha256(b"hello\n").hexdigest()

    server.signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal (exit -15) on purpose.
    assert server.wait(15) in (0, -signal.SIGTERM), server.log()
    assert "Application shutdown complete" in server.log()


def test_transactional_enqueue_keeps_only_the_committed_job(
    procs: Processes, tmp_path: Path
) -> None:
    with namespace_on(POSTGRES) as url:
        result = run_example(
            "transactional_enqueue.py", procs, tmp_path,
            CONVEYOR_URL=url, EXAMPLE_SCHEMA_SUFFIX=tmp_path.name[-20:].lower(),
        )  # fmt: skip
    out = result.stdout
    assert "order for bob@example.com rolled back (payment declined)" in out, out
    assert re.search(r"job \S+: completed: receipt for order \d+ sent to ada@example.com", out), out
    assert "jobs in the queue: 1 (completed=1)" in out, out


def test_recurring_jobs_example_fires_its_heartbeat_and_lists_both(
    procs: Processes, tmp_path: Path, db_url: str
) -> None:
    result = run_example("recurring_jobs.py", procs, tmp_path, CONVEYOR_URL=db_url)
    out = result.stdout
    beats = re.findall(r"^heartbeat for (\d\d:\d\d:\d\d)$", out, re.MULTILINE)
    assert len(beats) >= 2, out
    assert len(set(beats)) == len(beats), out
    assert re.search(
        r"^backup-database: 0 3 \* \* \* \(Europe/Paris\), next \S+ 0[12]:00:00\+00:00 $",
        out,
        re.MULTILINE,
    ), out
    assert re.search(r"^heartbeat: every 1s \(UTC\), next .* last \S+ \(job \w+\)$", out, re.M), out


def test_flask_upload_answers_202_and_the_job_completes(tmp_path: Path) -> None:
    from conveyor import JobStatus
    from conveyor.testing import QueueTester

    spec = importlib.util.spec_from_file_location("flask_upload", EXAMPLES / "flask_upload.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    client = module.app.test_client()
    with QueueTester(module.queue) as jobs:
        content = base64.b64encode(b"hello world\n").decode()
        answer = client.post("/upload", json={"filename": "hello.txt", "content": content})
        assert answer.status_code == 202
        job_id = answer.get_json()["id"]
        assert answer.headers["Location"] == f"/jobs/{job_id}"
        assert client.get(f"/jobs/{job_id}").get_json()["status"] == "pending"
        [done] = jobs.sync.drain()
        assert done.status is JobStatus.COMPLETED
        status = client.get(f"/jobs/{job_id}").get_json()
        assert status["status"] == "completed"
        assert status["result"]["sha256"] == hashlib.sha256(b"hello world\n").hexdigest()
        assert client.get("/jobs/nope").status_code == 404
        assert client.post("/upload", json={"filename": "x", "content": "%%"}).status_code == 422
