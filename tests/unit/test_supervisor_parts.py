"""The parts of ``conveyor worker --processes`` that need no process: spec, argv, backoff."""

from __future__ import annotations

import sys

import click
import pytest
from click.testing import CliRunner

from conveyor.cli.main import cli
from conveyor.cli.processes import ProcessCount, child_command, cpu_count, wants_supervisor
from conveyor.job import Job, JobConfig, JobStatus
from conveyor.runtime.supervised import ChildSpec, Recycler, rss_mb
from conveyor.runtime.supervisor import Backoff


@pytest.mark.parametrize(
    "spec",
    [
        ChildSpec(5, 123),
        ChildSpec(7, 1, max_jobs=100),
        ChildSpec(7, 1, max_memory_mb=512.5),
        ChildSpec(3, 99, max_jobs=1, max_memory_mb=64),
    ],
)
def test_a_spec_reads_back_as_written(spec: ChildSpec) -> None:
    assert ChildSpec.parse(spec.to_arg()) == spec


@pytest.mark.parametrize("text", ["", "fd=3", "parent=3", "fd=3,parent=4,x=1", "fd=a,parent=1"])
def test_a_spec_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a supervisor's spec"):
        ChildSpec.parse(text)


def test_process_counts() -> None:
    count = ProcessCount()
    assert count.convert("3", None, None) == 3
    assert count.convert(2, None, None) == 2
    assert count.convert("auto", None, None) == cpu_count() >= 1
    for wrong in ("0", "-1", "two"):
        with pytest.raises(click.BadParameter):
            count.convert(wrong, None, None)


def test_one_process_without_limits_is_no_supervisor() -> None:
    assert not wants_supervisor(1, None, None, None)
    assert wants_supervisor(2, None, None, None)
    assert wants_supervisor(1, 10, None, None)
    assert wants_supervisor(1, None, 256.0, None)
    assert not wants_supervisor(4, 10, 256.0, "fd=3,parent=1")  # a worker process itself


def _argv(*args: str) -> list[str]:
    """The argv of a worker process of ``conveyor worker ARGS`` (parsed, not run)."""
    command = cli.commands["worker"]
    ctx = command.make_context("worker", list(args))
    return child_command(ctx, ChildSpec(9, 42, max_jobs=5))


def test_a_worker_process_gets_the_options_given_but_the_supervisors() -> None:
    argv = _argv(
        "app:queue", "-p", "4", "-c", "2", "-q", "a", "--queue", "b",
        "--max-jobs-per-process", "5", "--grace=7", "--log-format", "json",
    )  # fmt: skip
    assert argv == [
        sys.executable, "-m", "conveyor", "worker", "app:queue",
        "--concurrency", "2", "--queue", "a", "--queue", "b", "--grace", "7.0",
        "--log-format", "json", "--supervised", "fd=9,parent=42,jobs=5",
    ]  # fmt: skip


def test_metrics_do_not_go_with_processes() -> None:
    result = CliRunner().invoke(cli, ["worker", "app:queue", "-p", "2", "--metrics-port", "9"])
    assert result.exit_code == 2
    assert "--metrics-port serves one process's metrics" in result.output


def test_backoff_doubles_up_to_its_cap() -> None:
    backoff = Backoff()
    assert [backoff.delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


def _job() -> Job:
    return Job("id", "name", "default", None, JobStatus.PROCESSING, JobConfig())


def test_the_recycler_fires_once_at_max_jobs_and_skips_jobs_put_back() -> None:
    reasons: list[str] = []
    recycler = Recycler(ChildSpec(3, 1, max_jobs=2), reasons.append)
    recycler.finished(_job(), JobStatus.COMPLETED, 0.1)
    recycler.finished(_job(), JobStatus.PENDING, 0.1)  # put back: not counted
    assert reasons == []
    recycler.finished(_job(), JobStatus.FAILED, 0.1)
    recycler.finished(_job(), JobStatus.COMPLETED, 0.1)
    assert reasons == ["2 job(s) done (--max-jobs-per-process 2)"]


def test_the_recycler_reads_resident_memory() -> None:
    assert 1 < rss_mb() < 10_000
    reasons: list[str] = []
    recycler = Recycler(ChildSpec(3, 1, max_memory_mb=1), reasons.append)
    recycler.finished(_job(), JobStatus.SCHEDULED, 0.1)
    assert len(reasons) == 1
    assert reasons[0].endswith("MB resident (--max-memory-per-process 1)")
