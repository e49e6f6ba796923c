"""The shop's queue and its handlers (the web process and the workers both import it)."""

from conveyor import Job, create_queue

queue = create_queue()  # CONVEYOR_URL, as in every process


@queue.handler("send-confirmation", max_retries=5)
def send_confirmation(job: Job) -> str:
    """E-mail an order's confirmation (a plain function: it runs on a worker's thread).

    A handler that uses the ORM imports its models here, inside the function, and
    runs in a worker started from ``mysite.worker`` (which sets Django up).
    """
    return f"confirmation sent to {job.payload['email']}"
