"""The REST API over real HTTP: a uvicorn server on a free port, workers in the same
process, a SQLite file of the test's own (and the main flow on Redis and PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from http_support import Server, make_queue

from conveyor.http import conveyor_app
from servers import POSTGRES, REDIS, namespace_on

JSON_HEADERS = {"Content-Type": "application/json"}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[httpx.Client]:
    queue = make_queue(f"sqlite:///{tmp_path / 'web.db'}")
    # Body-less POSTs say they come from a script (the CSRF check); one test goes without.
    headers = {"X-Conveyor-Request": "1"}
    with (
        Server(conveyor_app(queue, max_body=10_000), queue) as server,
        httpx.Client(base_url=server.base, timeout=10, headers=headers) as client,
    ):
        yield client


def enqueue(client: httpx.Client, **body: Any) -> str:
    answer = client.post("/api/jobs", json=body)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def wait_status(client: httpx.Client, job_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] == status:
            return job  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, job
        time.sleep(0.02)


def test_enqueue_answers_202_with_the_jobs_location_and_it_completes(api: httpx.Client) -> None:
    answer = api.post("/api/jobs", json={"name": "double", "payload": 21, "priority": "HIGH"})
    assert answer.status_code == 202
    job_id = answer.json()["id"]
    assert answer.headers["location"] == f"/api/jobs/{job_id}"
    job = wait_status(api, job_id, "completed")
    assert (job["result"], job["priority"], job["attempts"]) == (42, "HIGH", 1)
    stats = api.get("/api/stats").json()
    assert (stats["queue"], stats["completed"], stats["total"]) == ("web", 1, 1)
    page = api.get("/api/jobs", params={"status": "completed", "limit": 10}).json()
    assert [job["id"] for job in page["jobs"]] == [job_id]


def test_enqueue_with_a_key_answers_the_job_that_holds_it(api: httpx.Client) -> None:
    body = {"name": "double", "payload": 1, "key": "order-5", "delay": 3600}
    first, again = api.post("/api/jobs", json=body), api.post("/api/jobs", json=body)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["id"] == first.json()["id"]
    assert api.get("/api/stats").json()["total"] == 1
    assert api.post("/api/jobs", json={**body, "key": ""}).status_code == 422


def test_retry_cancel_delete_and_the_bulk_endpoints(api: httpx.Client) -> None:
    failed = enqueue(api, name="fail")
    wait_status(api, failed, "failed")
    assert "RuntimeError: boom" in api.get(f"/api/jobs/{failed}").json()["traceback"]
    later = enqueue(api, name="double", payload=1, delay=3600)
    assert api.post(f"/api/jobs/{later}/retry").status_code == 409
    assert api.post(f"/api/jobs/{later}/cancel").json()["status"] == "cancelled"
    assert api.post(f"/api/jobs/{later}/cancel").status_code == 409
    assert api.delete(f"/api/jobs/{later}").status_code == 204
    assert api.get(f"/api/jobs/{later}").status_code == 404
    assert api.post("/api/jobs/retry-failed").json() == {"count": 1}
    wait_status(api, failed, "failed")  # it fails again
    done = enqueue(api, name="double", payload=2)
    wait_status(api, done, "completed")
    assert api.post("/api/jobs/clear-completed").json() == {"count": 1}
    running = enqueue(api, name="slow", payload=5)
    wait_status(api, running, "processing")
    refused = api.delete(f"/api/jobs/{running}")
    assert refused.status_code == 409
    assert "running" in refused.json()["error"]["message"]
    assert api.post(f"/api/jobs/{running}/cancel").status_code == 200
    wait_status(api, running, "cancelled")


def test_schedules_are_listed_paused_and_resumed(api: httpx.Client) -> None:
    deadline = time.monotonic() + 10
    while not (found := api.get("/api/schedules").json()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    [tick] = found
    assert (tick["key"], tick["schedule"], tick["paused"]) == ("tick", "0 3 * * *", False)
    assert tick["next_run"].endswith("03:00:00Z") or "T03:00:00" in tick["next_run"]
    assert api.post("/api/schedules/tick/pause").status_code == 200
    assert api.get("/api/schedules").json()[0]["paused"] is True
    assert api.post("/api/schedules/tick/resume").status_code == 200
    missing = api.post("/api/schedules/nope/pause")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "ScheduleNotFoundError"


@pytest.mark.parametrize(
    ("content", "status", "kind", "words"),
    [
        (b'{"name": "double", "payload": ', 400, "MalformedJSON", "JSON"),
        (b'{"name": "nope"}', 422, "UnknownJobError", "'nope'"),
        (b'{"name": "double", "payload": NaN}', 422, "SerializationError", "JSON"),
        (b'{"name": "double", "delay": -1}', 422, "InvalidRequest", "delay"),
        (b'{"name": "double", "max_retries": "many"}', 422, "InvalidRequest", "max_retries"),
        (b'{"name": "double", "priority": "URGENT"}', 422, "InvalidRequest", "priority"),
        (b'{"name": "double", "colour": "red"}', 422, "InvalidRequest", "colour"),
        (b'{"payload": 1}', 422, "InvalidRequest", "name"),
        (b"[1, 2]", 422, "InvalidRequest", "body"),
    ],
)
def test_bad_requests_are_4xx_json_naming_the_problem_and_store_nothing(
    api: httpx.Client, content: bytes, status: int, kind: str, words: str
) -> None:
    answer = api.post("/api/jobs", content=content, headers=JSON_HEADERS)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["type"] == kind
    assert words in error["message"]
    assert api.get("/api/stats").json()["total"] == 0


def test_unknown_ids_and_bad_queries_are_4xx(api: httpx.Client) -> None:
    missing = api.get("/api/jobs/nope")
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "type": "JobNotFoundError",
        "message": "no job with id 'nope'",
    }
    assert api.get("/api/jobs", params={"status": "lost"}).status_code == 422
    assert api.get("/api/jobs", params={"limit": 0}).status_code == 422
    assert api.post("/api/jobs/nope/retry").status_code == 404


def test_bodies_over_the_cap_are_413_announced_or_streamed(api: httpx.Client) -> None:
    big = json.dumps({"name": "double", "payload": "x" * 20_000}).encode()
    assert api.post("/api/jobs", content=big, headers=JSON_HEADERS).status_code == 413

    def chunks() -> Iterator[bytes]:
        yield big[:5000]
        yield big[5000:]

    streamed = api.post("/api/jobs", content=chunks(), headers=JSON_HEADERS)
    assert streamed.status_code == 413
    assert streamed.json()["error"]["type"] == "PayloadTooLarge"
    assert api.get("/api/stats").json()["total"] == 0


def test_state_changes_need_json_or_the_header_and_no_foreign_origin(
    api: httpx.Client,
) -> None:
    api = httpx.Client(base_url=api.base_url, timeout=10)  # without the header
    form = api.post("/api/jobs", content=b"name=double", headers={
        "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert form.status_code == 403
    assert form.json()["error"]["type"] == "CSRFRefused"
    foreign = api.post(
        "/api/jobs", json={"name": "double"}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    same = api.post("/api/jobs", json={"name": "double", "payload": 1},
                    headers={"Origin": str(api.base_url).rstrip("/")})  # fmt: skip
    assert same.status_code == 202
    assert api.post("/api/jobs/clear-completed", content=b"").status_code == 403


def test_a_token_is_required_when_set(tmp_path: Path) -> None:
    queue = make_queue(f"sqlite:///{tmp_path / 't.db'}")
    with Server(conveyor_app(queue, token="s3cret"), queue, workers=False) as server:
        assert httpx.get(f"{server.base}/api/stats").status_code == 401
        wrong = httpx.get(f"{server.base}/api/stats", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert wrong.json()["error"]["type"] == "Unauthorized"
        right = httpx.get(f"{server.base}/api/stats", headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200


def test_events_stream_live_and_resume_after_a_disconnect(api: httpx.Client) -> None:
    seen: list[dict[str, str]] = []

    def read(headers: dict[str, str], until: int) -> None:
        with api.stream("GET", "/api/events", headers=headers, timeout=10) as stream:
            event: dict[str, str] = {}
            for line in stream.iter_lines():
                if not line:
                    if "event" in event:
                        seen.append(event)
                        if len(seen) >= until:
                            return
                    event = {}
                elif not line.startswith(":"):
                    field, _, value = line.partition(": ")
                    event[field] = value

    reader = threading.Thread(target=read, args=({}, 3))
    reader.start()
    time.sleep(0.3)
    job_id = enqueue(api, name="double", payload=1)
    reader.join(10)
    assert [e["event"] for e in seen] == ["job:added", "job:started", "job:completed"]
    assert all(json.loads(e["data"])["id"] == job_id for e in seen)
    # Events that happened while nobody listened come back with Last-Event-ID.
    second = enqueue(api, name="double", payload=2)
    wait_status(api, second, "completed")
    resumed = len(seen)
    read({"Last-Event-ID": seen[-1]["id"]}, resumed + 3)
    missed = seen[resumed:]
    assert [e["event"] for e in missed] == ["job:added", "job:started", "job:completed"]
    assert {json.loads(e["data"])["id"] for e in missed} == {second}
    assert [int(e["id"]) for e in seen] == sorted(int(e["id"]) for e in seen)


def test_mounted_under_a_prefix_in_another_app(tmp_path: Path) -> None:
    queue = make_queue(f"sqlite:///{tmp_path / 'm.db'}")
    outer = FastAPI()
    outer.mount("/conveyor", conveyor_app(queue))
    with Server(outer, queue) as server:
        answer = httpx.post(
            f"{server.base}/conveyor/api/jobs", json={"name": "double", "payload": 4}
        )
        assert answer.status_code == 202
        assert answer.headers["location"].startswith("/conveyor/api/jobs/")
        assert httpx.get(f"{server.base}{answer.headers['location']}").status_code == 200
        assert httpx.get(f"{server.base}/conveyor/openapi.json").status_code == 200


def test_openapi_describes_every_endpoint(api: httpx.Client) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    assert set(paths) >= {
        "/api/jobs", "/api/jobs/{job_id}", "/api/stats", "/api/jobs/{job_id}/retry",
        "/api/jobs/{job_id}/cancel", "/api/jobs/clear-completed", "/api/jobs/retry-failed",
        "/api/schedules", "/api/schedules/{key}/pause", "/api/schedules/{key}/resume",
        "/api/events",
    }  # fmt: skip


@pytest.mark.parametrize("server_url", [REDIS, POSTGRES], ids=["redis", "postgres"])
def test_the_main_flow_on_shared_stores(server_url: str) -> None:
    with namespace_on(server_url) as url:
        queue = make_queue(url)
        with (
            Server(conveyor_app(queue), queue) as server,
            httpx.Client(base_url=server.base) as api,
        ):
            job_id = enqueue(api, name="double", payload=5)
            assert wait_status(api, job_id, "completed")["result"] == 10


def test_serve_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "conveyor", "serve", "anything:queue", "--host", "0.0.0.0"],
        capture_output=True, text=True, timeout=30, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "refusing to serve on 0.0.0.0 without a token" in result.stderr
    assert "Traceback" not in result.stderr


def test_nul_bytes_in_ids_and_names_are_4xx(api: httpx.Client) -> None:
    assert api.get("/api/jobs/a%00b").status_code == 404
    assert api.post("/api/schedules/a%00b/pause").status_code == 422
    bad = api.post("/api/jobs", json={"name": "dou\u0000ble"})
    assert bad.status_code == 422
    huge = api.post("/api/jobs", json={"name": "double", "max_retries": 10**20, "delay": 1e300})
    assert huge.status_code == 422
    assert "max_retries" in huge.json()["error"]["message"]


def test_metrics_are_served_when_the_queue_counts_them(tmp_path: Path) -> None:
    queue = make_queue(f"sqlite:///{tmp_path / 'metrics.db'}")
    queue.enable_metrics()
    with Server(conveyor_app(queue), queue) as server, httpx.Client(base_url=server.base) as api:
        job_id = enqueue(api, name="double", payload=3)
        wait_status(api, job_id, "completed")
        text = api.get("/metrics").text
    assert 'conveyor_jobs_enqueued_total{name="double",queue="web"} 1.0' in text
    assert 'conveyor_queue_jobs{queue="web",status="completed"} 1.0' in text


def test_the_workers_alive_are_listed(api: httpx.Client) -> None:
    deadline = time.monotonic() + 10
    while not (workers := api.get("/api/workers").json()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    [worker] = workers
    assert (worker["queues"], worker["concurrency"], worker["running"]) == (["web"], 2, [])
