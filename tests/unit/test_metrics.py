"""Prometheus metrics of a queue: counters per queue and name, run and wait histograms,
busy slots, and the store's depth per status read at each scrape."""

from __future__ import annotations

import asyncio

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from conveyor import Job, create_queue
from conveyor.metrics import Metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_counts_what_this_process_enqueued_ran_and_how_long() -> None:
    queue = create_queue(url="memory://", name="mq", workers=2)
    queue.register("ok", lambda job: None)

    @queue.handler("flaky", max_retries=1, retry_delay=0)
    async def flaky(job: Job) -> None:
        await asyncio.sleep(0.05)
        raise RuntimeError("no")

    metrics = queue.enable_metrics()
    assert queue.enable_metrics() is metrics
    ids = await queue.enqueue_many([("ok", 1), ("ok", 2), ("flaky", None)])
    await queue.start()
    try:
        for job_id in ids:
            await queue.wait(job_id, timeout=10)
    finally:
        await queue.stop()
    await queue.enqueue("ok", 3)  # stays pending
    found = await asyncio.to_thread(samples, metrics)
    ok, flaky_ = (("name", "ok"), ("queue", "mq")), (("name", "flaky"), ("queue", "mq"))
    assert found["conveyor_jobs_enqueued_total", ok] == 3
    assert found["conveyor_jobs_enqueued_total", flaky_] == 1
    assert found["conveyor_jobs_finished_total", (*ok[:1], ("outcome", "completed"), ok[1])] == 2
    flaky_outcome = lambda o: (flaky_[0], ("outcome", o), flaky_[1])  # noqa: E731
    assert found["conveyor_jobs_finished_total", flaky_outcome("retrying")] == 1
    assert found["conveyor_jobs_finished_total", flaky_outcome("failed")] == 1
    assert found["conveyor_job_run_seconds_count", flaky_] == 2
    assert found["conveyor_job_run_seconds_sum", flaky_] >= 0.1
    assert found["conveyor_job_wait_seconds_count", ok] == 2
    assert found["conveyor_job_wait_seconds_count", flaky_] == 1  # first attempts only
    assert found["conveyor_worker_busy_slots", (("queue", "mq"),)] == 0
    depth = {status: found["conveyor_queue_jobs", (("queue", "mq"), ("status", status))]
             for status in ("pending", "completed", "failed")}  # fmt: skip
    assert depth == {"pending": 1, "completed": 2, "failed": 1}
    await queue.close()
