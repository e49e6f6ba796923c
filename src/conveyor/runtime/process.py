"""``run_in="process"``: a plain handler run in a child process, for a hard timeout.

Threads cannot be stopped from outside, so a plain handler that overruns its timeout
keeps its thread busy. A handler registered with ``run_in="process"`` runs each attempt
in a fresh spawned process instead, which is killed at the deadline (or on cancel).
The handler must be importable (a module-level function); its job data goes to the
child over a pipe, and progress and the result come back the same way.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import traceback
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from typing import Any

from ..errors import ConveyorError, RemoteHandlerError
from ..job import Job, report_progress_with

Reporter = Callable[[Job, float, str | None], Awaitable[None]]


async def run_in_process(func: Callable[[Job], Any], job: Job, report: Reporter) -> Any:
    """Run ``func(job)`` in a new process; kill it if this coroutine is cancelled."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    fields = {
        "id": job.id, "name": job.name, "queue": job.queue, "payload": job.payload,
        "status": job.status, "config": job.config, "attempts": job.attempts,
        "created_at": job.created_at, "started_at": job.started_at,
    }  # fmt: skip
    process = context.Process(target=_child, args=(func, fields, sender), daemon=True)
    process.start()
    sender.close()
    loop = asyncio.get_running_loop()
    messages: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

    def readable() -> None:
        try:
            messages.put_nowait(receiver.recv())
        except EOFError:
            loop.remove_reader(receiver.fileno())
            messages.put_nowait(("exit",))

    loop.add_reader(receiver.fileno(), readable)
    try:
        while True:
            kind, *data = await messages.get()
            if kind == "progress":
                await report(job, data[0], data[1])
            elif kind == "result":
                return data[0]
            elif kind == "error":
                raise RemoteHandlerError(data[0], data[1])
            else:
                await loop.run_in_executor(None, process.join, 5)
                raise ConveyorError(
                    f"the process running job {job.id} exited with code {process.exitcode}"
                    " before returning"
                )
    finally:
        loop.remove_reader(receiver.fileno())
        receiver.close()
        if process.is_alive():
            process.kill()
        await loop.run_in_executor(None, process.join)


def _child(func: Callable[[Job], Any], fields: dict[str, Any], sender: Connection) -> None:
    job = Job(**fields)
    report_progress_with(job, lambda percent, message: sender.send(("progress", percent, message)))
    try:
        result = func(job)
    except BaseException as exc:
        message = f"{type(exc).__name__}: {exc}"
        sender.send(("error", message, "".join(traceback.format_exception(exc))))
    else:
        sender.send(("result", result))
    finally:
        sender.close()
