"""Many threads of one process enqueueing through ``queue.sync`` on a real SQLite file.

This is what a threaded web server (Flask, Django) does with conveyor; the
multi-process producer test does the same from a process of its own.
"""

from __future__ import annotations

import threading

from conveyor import Queue


def test_threads_enqueue_at_once_through_sync(queue: Queue) -> None:
    threads, per_thread = 8, 50
    ids: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def serve() -> None:
        start.wait()
        for n in range(per_thread):
            try:
                job_id = queue.sync.enqueue("anything", {"n": n})
            except Exception as exc:
                with lock:
                    errors.append(exc)
            else:
                with lock:
                    ids.append(job_id)

    pool = [threading.Thread(target=serve) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(30)
    assert not errors, f"{len(errors)} enqueue(s) failed, first: {errors[0]!r}"
    assert len(set(ids)) == threads * per_thread
    assert queue.sync.get_stats().pending == threads * per_thread
