"""A plain handler with a hard time limit: each attempt runs in a process of its own.

Run it as a program: the first job finishes, the second is killed at its deadline.
"""

from __future__ import annotations

import time

from conveyor import Job, create_queue

queue = create_queue()


def resize(job: Job) -> str:
    """Stands for a C library call that may hang: only killing its process stops it."""
    time.sleep(job.payload["seconds"])
    return f"resized {job.payload['image']}"


queue.register("resize", resize, run_in="process", timeout=2, max_retries=0)


def main() -> None:
    """Enqueue a quick and a hanging job and print how each one ended."""
    quick = queue.sync.enqueue("resize", {"image": "cat.png", "seconds": 0.1})
    stuck = queue.sync.enqueue("resize", {"image": "huge.tiff", "seconds": 60})
    queue.sync.start()
    for job_id in (quick, stuck):
        job = queue.sync.wait(job_id, timeout=30)
        print(job.payload["image"], job.status.value, job.result or job.error)
    queue.sync.close()


if __name__ == "__main__":  # the spawned child imports this module: no jobs there
    main()
