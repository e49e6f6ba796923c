"""A real HTTP server for the API tests: uvicorn on a free port, in a thread."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import uvicorn

from conveyor import Job, Queue, create_queue
from servers import free_port


class Server:
    """uvicorn serving ``app`` from a thread; the queue's workers run in its loop."""

    def __init__(self, app: Any, queue: Queue, workers: bool = True) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.queue, self.workers = queue, workers
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        if self.workers:
            await self.queue.start()
        try:
            await self.server.serve()
        finally:
            await self.queue.close()

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def make_queue(url: str) -> Queue:
    queue = create_queue(url=url, name="web", workers=2)
    queue.register("double", lambda job: job.payload * 2)

    @queue.handler("fail", max_retries=0)
    def fail(job: Job) -> None:
        raise RuntimeError("boom")

    @queue.handler("slow", timeout=30)
    async def slow(job: Job) -> None:
        await asyncio.sleep(float(job.payload))

    queue.register("tick", lambda job: None)
    queue.cron("tick", "0 3 * * *")
    return queue
