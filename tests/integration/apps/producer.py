"""A web-like producer process: several request threads enqueue ``record`` jobs.

``python producer.py COUNT THREADS IDS_FILE`` enqueues COUNT jobs from THREADS threads
with ``queue.sync`` (as a Flask or Django app would), each thread one job per
"request" with a short pause between requests, then writes the ids to IDS_FILE (one a
line) and prints ``produced COUNT AT`` (AT: ``time.monotonic()`` when it finished). It
registers no handlers: a producer-only process may enqueue any job name. The store is
``CONVEYOR_URL``; with ``IT_KEY`` set, every job is enqueued with that unique key.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from pathlib import Path

from conveyor import create_queue


def main() -> int:
    count, threads, ids_file = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    if not os.environ.get("CONVEYOR_URL"):
        raise RuntimeError("the producer needs CONVEYOR_URL")
    queue = create_queue()
    key = os.environ.get("IT_KEY")
    ids: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()

    def serve_requests(share: int) -> None:
        for _ in range(share):
            # One "request": a failed enqueue is an error answer, the next request goes on.
            try:
                job_id = queue.sync.enqueue("record", {"max_sleep": 0.002}, key=key)
            except Exception as exc:
                with lock:
                    errors.append(f"{type(exc).__module__}.{type(exc).__name__}: {exc}")
            else:
                with lock:
                    ids.append(job_id)
            time.sleep(random.uniform(0, 0.01))

    shares = [count // threads + (1 if i < count % threads else 0) for i in range(threads)]
    workers = [threading.Thread(target=serve_requests, args=(s,)) for s in shares]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    queue.sync.close()
    ids_file.write_text("".join(f"{job_id}\n" for job_id in ids))
    if errors:
        print(f"ERROR: {len(errors)} of {count} enqueues failed, first: {errors[0]}", flush=True)
    print(f"produced {len(ids)} {time.monotonic():.6f}", flush=True)
    return 0 if len(ids) == count else 1


if __name__ == "__main__":
    sys.exit(main())
