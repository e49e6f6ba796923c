"""A Redis store over TLS (``rediss://``): jobs, the idle wait and events between processes.

The store reads its connections' sockets itself once redis-py has connected (TLS
included), its listener thread, the workers' idle waits and the calling threads of
``queue.sync`` enqueues have connections of their own: all of them go through a server
that speaks TLS only.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
from private_servers import PrivateRedis

from conveyor import Job, JobStatus, create_queue
from testkit import portal_busy


def require_openssl() -> None:
    if shutil.which("openssl") is None:
        message = "openssl is not installed (apt-get install openssl)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


async def run_over(url: str) -> tuple[list[Job], list[str]]:
    worker = create_queue(workers=2, url=f"{url}?prefix=tls", name="tls")
    producer = create_queue(url=f"{url}?prefix=tls", name="tls")
    heard: list[str] = []
    producer.on("job:completed", lambda job: heard.append(job.id))

    @worker.handler("echo")
    async def echo(job):
        return job.payload

    await worker.start()
    await asyncio.sleep(0.2)  # the worker goes idle: its wait blocks on the server
    try:
        ids = [await producer.enqueue("echo", {"n": n}) for n in range(20)]
        done = [await producer.wait(job_id, timeout=10) for job_id in ids]
        for _ in range(100):
            if len(heard) == len(ids):
                break
            await asyncio.sleep(0.05)
        return done, heard
    finally:
        await worker.close()
        await producer.close()


def test_jobs_run_and_events_arrive_over_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_openssl()
    with PrivateRedis(tmp_path / "redis", tls=True) as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.cert))  # trust its certificate
        done, heard = asyncio.run(run_over(server.url))
    assert [job.status for job in done] == [JobStatus.COMPLETED] * 20
    assert [job.result for job in done] == [{"n": n} for n in range(20)]
    assert sorted(heard) == sorted(job.id for job in done)


def test_enqueues_of_calling_threads_go_over_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_openssl()
    with PrivateRedis(tmp_path / "redis", tls=True) as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.cert))
        queue = create_queue(url=f"{server.url}?prefix=tls", name="tls")
        try:
            queue.sync.get_stats()  # open (through the portal)
            with portal_busy(queue):
                ids = [queue.sync.enqueue("echo", n) for n in range(5)]
                ids += queue.sync.enqueue_many([("echo", n) for n in range(5, 10)])
            assert [job.payload for i in ids if (job := queue.sync.get_job(i))] == list(range(10))
        finally:
            queue.sync.close()
