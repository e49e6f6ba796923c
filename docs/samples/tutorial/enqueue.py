"""Enqueue one job per e-mail address given, for workers elsewhere, and wait for them."""

import sys

from tasks import queue

ids = [queue.sync.enqueue("send-welcome", {"email": email}) for email in sys.argv[1:]]
for job_id in ids:
    job = queue.sync.wait(job_id, timeout=30)
    print(job.id, job.status.value, job.result)
queue.sync.close()
