"""Helpers for integration tests: child processes, and waiting on conditions.

Every child process is started through :class:`Processes`; the ``procs`` fixture kills
whatever is still running at teardown (even when the test failed) and prints the
children's logs when the test failed. Waiting is always on a condition with a
deadline (:func:`wait_for`), never a fixed sleep.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[2]
APPS = Path(__file__).resolve().parent / "apps"
T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.02) -> T:
    """Return ``predicate()``'s first truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


class Child:
    """A child process whose stdout and stderr go to one log file."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], cwd: Path, log_path: Path
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        with self.log_path.open("wb") as log:
            self.popen = subprocess.Popen(
                argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait_log(self, text: str, timeout: float = 15.0) -> None:
        """Wait until ``text`` appears in the log (and fail early if the process died)."""

        def seen() -> bool:
            if text in self.log():
                return True
            if not self.alive():
                raise AssertionError(
                    f"{self.name} exited ({self.popen.returncode}) before logging {text!r}:\n"
                    + self.log()
                )
            return False

        wait_for(seen, timeout, f"{self.name} to log {text!r}")

    def signal(self, signum: int) -> None:
        self.popen.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """Wait for the exit code; fail (the process is killed at teardown) on timeout."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.name} still running after {timeout:g} s:\n{self.log()}"
            ) from None


class Processes:
    """Starts child processes for one test and kills the ones left at teardown."""

    def __init__(self, tmp_path: Path, url: str) -> None:
        self.tmp_path = tmp_path
        self.url = url
        self.children: list[Child] = []

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        paths = [str(APPS), env.get("PYTHONPATH", "")]
        env.update(
            CONVEYOR_URL=self.url,
            PYTHONPATH=os.pathsep.join(p for p in paths if p),
            PYTHONUNBUFFERED="1",
            IT_MARKERS=str(self.tmp_path / "markers"),
            IT_LEDGER=str(self.tmp_path / "ledger.txt"),
        )
        env.update(extra)
        return env

    def spawn(self, name: str, argv: list[str], *, cwd: Path | None = None, **env: str) -> Child:
        if any(child.name == name for child in self.children):
            raise ValueError(f"a child process called {name!r} was already started")
        log_path = self.tmp_path / f"{name}.log"
        child = Child(name, argv, self.env(**env), cwd or self.tmp_path, log_path)
        self.children.append(child)
        return child

    def worker(
        self, name: str, *args: str, app: str = "workerapp:queue", ready: bool = True, **env: str
    ) -> Child:
        """Start ``python -m conveyor worker APP ARGS``; wait until it serves (``ready``)."""
        argv = [sys.executable, "-m", "conveyor", "worker", app, *args]
        child = self.spawn(name, argv, **env)
        if ready:
            child.wait_log(f"worker {child.pid} serving")
        return child

    def cleanup(self) -> None:
        for child in self.children:
            if child.alive():
                child.popen.send_signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.popen.wait(10)

    def dump_logs(self) -> None:
        for child in self.children:
            print(f"----- {child.name} (pid {child.pid}, exit {child.popen.returncode}) -----")
            print(child.log())


def run_cli(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 20
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m conveyor ARGS`` to the end; its output is text."""
    return subprocess.run(
        [sys.executable, "-m", "conveyor", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def read_runs(path: Path) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """The ``chaos`` ledger: the pids that started, and that ended, each job."""
    starts: dict[str, list[int]] = defaultdict(list)
    ends: dict[str, list[int]] = defaultdict(list)
    for line in path.read_text().splitlines():
        kind, job_id, pid, _attempt = line.split()
        (starts if kind == "start" else ends)[job_id].append(int(pid))
    return starts, ends
