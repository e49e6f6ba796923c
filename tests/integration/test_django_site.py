"""``examples/django_site`` end to end: ``runserver``, a form, ``manage.py conveyor worker``.

On SQLite (Django's database and the store, two files) and on PostgreSQL (a database
of its own for Django and the store, the task written in the view's transaction): a
POST enqueues a task in ``transaction.atomic()``, a real worker process runs it (the
task reads and writes Django's database), and the report page shows its result. Then
the worker stops on SIGTERM, and ``conveyor worker conveyor.contrib.django.worker:queue``
(the CLI pointed at the settings) runs the next one.
"""

from __future__ import annotations

import http.cookiejar
import json
import signal
import socket
import sys
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from it_support import ROOT, Processes, wait_for

from servers import POSTGRES, require

SITE = ROOT / "examples" / "django_site"


@pytest.fixture(params=["sqlite", "postgres"])
def site_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Where the site keeps its data: two SQLite files, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        yield {"DATABASE_URL": str(tmp_path / "db.sqlite3"),
               "CONVEYOR_URL": f"sqlite:///{tmp_path / 'conveyor.db'}"}  # fmt: skip
        return
    require(POSTGRES)
    name = f"shop_{uuid.uuid4().hex[:10]}"
    server = POSTGRES.rsplit("/", 1)[0]
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield {"DATABASE_URL": f"{server}/{name}", "CONVEYOR_URL": f"{server}/{name}"}
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def db_url(site_env: dict[str, str]) -> str:
    return site_env["CONVEYOR_URL"]  # what procs gives its children as CONVEYOR_URL


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Browser:
    """Pages of the site through urllib, with its cookies (CSRF)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=10) as response:
            return str(response.read().decode())

    def post(self, path: str, fields: dict[str, str]) -> str:
        """POST the form; return the path it redirects to."""
        token = next(c.value for c in self.cookies if c.name == "csrftoken")
        data = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": token}).encode()
        headers = {"Referer": self.base}
        request = urllib.request.Request(self.base + path, data=data, headers=headers)
        with self.opener.open(request, timeout=10) as response:
            return urllib.parse.urlsplit(response.url).path

    def answers(self) -> bool:
        try:
            self.get("/")
        except OSError:
            return False
        return True


def report_when_finished(browser: Browser, page: str) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        state: dict[str, Any] = json.loads(browser.get(page + "?format=json"))
        return state if state["status"] in ("SUCCESSFUL", "FAILED") else None

    return wait_for(finished, 20, f"the task of {page} to finish")


@pytest.mark.slow
def test_the_example_site_runs_its_tasks_on_a_conveyor_worker(
    procs: Processes, site_env: dict[str, str]
) -> None:
    env = {**site_env, "DJANGO_SETTINGS_MODULE": "mysite.settings"}
    manage = [sys.executable, "manage.py"]
    migrate = procs.spawn("migrate", [*manage, "migrate", "-v0"], cwd=SITE, **env)
    assert migrate.wait(60) == 0, migrate.log()
    worker = procs.spawn("worker", [*manage, "conveyor", "worker", "-c", "2"], cwd=SITE, **env)
    worker.wait_log(f"worker {worker.pid} serving default", timeout=30)
    port = free_port()
    web = procs.spawn("web", [*manage, "runserver", "--noreload", f"127.0.0.1:{port}"],
                      cwd=SITE, **env)  # fmt: skip
    browser = Browser(f"http://127.0.0.1:{port}")
    wait_for(browser.answers, 30, "runserver to answer")

    assert "Count the primes" in browser.get("/")
    page = browser.post("/reports/", {"n": "1000"})
    assert page.startswith("/reports/")
    state = report_when_finished(browser, page)
    assert state["status"] == "SUCCESSFUL", state
    assert state["return_value"] == {"n": 1000, "primes": 168}
    assert state["primes"] == 168  # the task wrote Django's database, in the worker
    assert state["attempts"] == 1
    assert "168 primes below 1000" in browser.get(page)

    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0, worker.log()
    # The conveyor command pointed at the settings runs the same tasks.
    target = "conveyor.contrib.django.worker:queue"
    cli = procs.spawn("cli-worker", [sys.executable, "-m", "conveyor", "worker", target],
                      cwd=SITE, **env)  # fmt: skip
    cli.wait_log(f"worker {cli.pid} serving default", timeout=30)
    page = browser.post("/reports/", {"n": "100"})
    second = report_when_finished(browser, page)
    assert second["return_value"] == {"n": 100, "primes": 25}
    cli.signal(signal.SIGTERM)
    assert cli.wait(30) == 0, cli.log()
    web.signal(signal.SIGTERM)

    # manage.py conveyor serve: the REST API (and dashboard) of the backend's queue.
    api_port = free_port()
    serve = procs.spawn("serve", [*manage, "conveyor", "serve", "--port", str(api_port)],
                        cwd=SITE, **env)  # fmt: skip
    api = Browser(f"http://127.0.0.1:{api_port}")
    wait_for(lambda: _get_json(api, "/api/stats") is not None, 30, "conveyor serve to answer")
    assert _get_json(api, "/api/stats")["completed"] == 2
    job = _get_json(api, f"/api/jobs/{second['task']}")
    assert (job["name"], job["status"]) == ("django.task", "completed"), job
    serve.signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then raises the signal again (the exit tells it).
    assert serve.wait(30) in (0, -signal.SIGTERM), serve.log()
    assert "Application shutdown complete" in serve.log()


def _get_json(browser: Browser, path: str) -> Any:
    """``path``'s JSON, or None while the server does not answer."""
    try:
        return json.loads(browser.get(path))
    except OSError:
        return None
