"""``run_in="process"``: plain handlers in a child process, with a hard timeout."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from it_support import wait_for

from conveyor import JobStatus, create_queue

sys.path.insert(0, str(Path(__file__).parent / "apps"))
import proc_handlers


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_process_handler_returns_its_result_and_progress(db_url: str) -> None:
    queue = create_queue(workers=2, url=db_url, name="proc")
    queue.register("report", proc_handlers.report, run_in="process")
    queue.register("explode", proc_handlers.explode, run_in="process", max_retries=0)
    await queue.start()
    try:
        ok = await queue.enqueue("report", {"n": 21})
        bad = await queue.enqueue("explode", {"n": 7})
        done = await queue.wait(ok, timeout=30)
        failed = await queue.wait(bad, timeout=30)
    finally:
        await queue.close()
    assert done.status is JobStatus.COMPLETED
    assert done.result["doubled"] == 42
    assert done.result["pid"] != os.getpid()
    assert done.progress_percent == 50.0
    assert done.progress_message == "half way"
    assert failed.status is JobStatus.FAILED
    assert failed.error == "ValueError: bad input 7"
    assert failed.traceback is not None
    assert "proc_handlers.py" in failed.traceback


async def test_a_process_handler_is_killed_at_its_timeout(db_url: str, tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    queue = create_queue(workers=1, url=db_url, name="proc-timeout")
    queue.register("hang", proc_handlers.hang, run_in="process", max_retries=0, timeout=1.5)
    await queue.start()
    try:
        job_id = await queue.enqueue("hang", {"pid_file": str(pid_file)})
        job = await queue.wait(job_id, timeout=30)
    finally:
        await queue.close()
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert "timed out after 1.5 s" in job.error
    child = int(pid_file.read_text())
    wait_for(lambda: not _alive(child), timeout=5, what=f"child {child} to be gone")
