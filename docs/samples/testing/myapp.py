"""A Flask app whose signup view enqueues a welcome e-mail, and a daily digest."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request

from conveyor import Job, create_queue

queue = create_queue()
app = Flask(__name__)
sent: list[str] = []  # stands for a mail server


@queue.handler("send-email", max_retries=2, retry_delay=60)
def send_email(job: Job) -> dict[str, bool]:
    """Send one e-mail."""
    sent.append(job.payload["to"])
    return {"sent": True}


@queue.handler("daily-digest")
def daily_digest(job: Job) -> None:
    """Send the digest of the day that ``job.config.scheduled_at`` names."""
    sent.append(f"digest {job.config.scheduled_at:%Y-%m-%d}")


queue.cron("daily-digest", "0 7 * * *")


@app.post("/signup")
def signup() -> Any:
    """Create the account, then send its welcome e-mail in the background."""
    email = request.get_json()["email"]
    queue.sync.enqueue("send-email", {"to": email})
    return jsonify(ok=True), 201
