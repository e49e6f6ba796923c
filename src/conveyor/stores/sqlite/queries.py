"""The SQL of every SQLite store transition, one named statement each."""

from functools import lru_cache

COLUMNS = (
    "id, queue, name, payload, status, priority, max_retries, retry_delay, timeout, backoff,"
    " created_at, run_at, scheduled_at, attempts, started_at, completed_at, worker_id,"
    " lease_expires_at, result, error, traceback, progress, progress_message, cancel_requested,"
    " headers, unique_key, unique_until"
)

# A new job sets only these columns; the others start NULL or 0. Binding fewer values
# matters: the driver adapts each NULL it binds, and binding all 27 columns made a bulk
# insert 30 % slower. Jobs with headers or a unique key take INSERT_NEW_TAGGED.
NEW_COLUMNS = (
    "id, queue, name, payload, status, priority, max_retries, retry_delay, timeout, backoff,"
    " created_at, run_at, scheduled_at"
)
TAG_COLUMNS = "headers, unique_key, unique_until"


def _marks(columns: str) -> str:
    """Return one ``?`` for each of ``columns`` (a comma list), as a row of values."""
    return "(" + ", ".join("?" * (columns.count(",") + 1)) + ")"


def _insert(columns: str) -> str:
    return f"INSERT INTO conveyor_jobs ({columns}) VALUES {_marks(columns)}"


INSERT_NEW = _insert(NEW_COLUMNS)
INSERT_NEW_TAGGED = _insert(f"{NEW_COLUMNS}, {TAG_COLUMNS}")

# Counts of jobs just inserted: the store counts them itself, a trigger each row costs
# a sixth of a bulk insert (migration 7); moves and deletions are counted by triggers.
COUNT_ADDED = """
INSERT INTO conveyor_counts (queue, status, n) VALUES (?, ?, ?)
ON CONFLICT (queue, status) DO UPDATE SET n = n + excluded.n
"""

# Concurrency slots: drop a bucket's run-out holders, renew ours, count the others.
SLOTS_EXPIRE = "DELETE FROM conveyor_slots WHERE bucket = ? AND expires_at <= ?"
SLOT_RENEW = "UPDATE conveyor_slots SET expires_at = ? WHERE bucket = ? AND holder = ?"
SLOTS_HELD = "SELECT count(*) FROM conveyor_slots WHERE bucket = ?"
SLOT_TAKE = "INSERT INTO conveyor_slots (bucket, holder, expires_at) VALUES (?, ?, ?)"
SLOT_RELEASE = "DELETE FROM conveyor_slots WHERE bucket = ? AND holder = ?"

# Aging: long-waiting pending jobs one priority level up, read through conveyor_jobs_ready.
AGE = """
UPDATE conveyor_jobs SET priority = priority + 1, run_at = :now
WHERE id IN (
    SELECT id FROM conveyor_jobs
    WHERE status = 'pending' AND queue = :queue AND priority < 3 AND run_at < :before
    LIMIT :limit
)
"""

# Rate limits: when a bucket's next start is due, and moving it on.
RATE_DUE = "SELECT due FROM conveyor_rates WHERE bucket = ?"
RATE_TAKE = """
INSERT INTO conveyor_rates (bucket, due) VALUES (?, ?)
ON CONFLICT (bucket) DO UPDATE SET due = excluded.due
"""

# The job that holds a unique key of a queue, if one does (read through conveyor_jobs_keys).
KEY_HOLDER = """
SELECT id FROM conveyor_jobs
WHERE queue = ? AND unique_key = ?
  AND (status IN ('pending', 'scheduled', 'processing') OR unique_until > ?)
LIMIT 1
"""

# Scheduled jobs whose time has come become pending: claims then read only `ready`.
PROMOTE_DUE = """
UPDATE conveyor_jobs SET status = 'pending'
WHERE status = 'scheduled' AND queue = ? AND run_at <= ?
"""

READY_HEAD = """
SELECT id, priority, run_at FROM conveyor_jobs
WHERE status = 'pending' AND queue = ?
ORDER BY priority DESC, run_at, id
LIMIT ?
"""

CLAIM = f"""
UPDATE conveyor_jobs
SET status = 'processing', attempts = attempts + 1, started_at = :now,
    worker_id = :worker, lease_expires_at = :now + :lease, cancel_requested = 0,
    progress = NULL, progress_message = NULL
WHERE id IN (SELECT value FROM json_each(:ids)) AND status = 'pending'
RETURNING {COLUMNS}
"""

RENEW = """
UPDATE conveyor_jobs SET lease_expires_at = :now + :lease
WHERE id IN (SELECT value FROM json_each(:ids))
  AND status = 'processing' AND worker_id = :worker
RETURNING id, cancel_requested
"""

# One statement settles every kind of outcome of up to SETTLE_MAX jobs, the ten values
# of each a row of `o`; the WHERE clause is the ownership check. A transaction settling
# 10 jobs took 22 us a job, with one single-row UPDATE a job 32 us. It tells how many
# applied by its row count: RETURNING's rows come back one step (and one handover of the
# GIL) each, which cost more than the joining saved. It begins with UPDATE, not WITH: the
# sqlite3 module of Python 3.11 counts rows only for statements that begin so.
SETTLE_COLUMNS = "id, worker, attempt, status, postponed, now, delay, result, error, traceback"
SETTLE_WIDTH = SETTLE_COLUMNS.count(",") + 1
SETTLE_MAX = 64
_SETTLE_NAMES = ", ".join(
    f"column{i} AS {name}" for i, name in enumerate(SETTLE_COLUMNS.split(", "), 1)
)


@lru_cache(maxsize=8)
def settle_many(count: int) -> str:
    """Return the statement that settles ``count`` outcomes (its row count: how many applied)."""
    rows = ", ".join([_marks(SETTLE_COLUMNS)] * count)
    return f"""
UPDATE conveyor_jobs
SET status = o.status,
    worker_id = NULL, lease_expires_at = NULL, cancel_requested = 0,
    attempts = conveyor_jobs.attempts - (o.status = 'pending' OR o.postponed),
    run_at = CASE WHEN o.status IN ('scheduled', 'pending') THEN o.now + o.delay
                  ELSE conveyor_jobs.run_at END,
    completed_at = CASE WHEN o.status IN ('completed', 'failed', 'cancelled') THEN o.now
                        ELSE conveyor_jobs.completed_at END,
    result = CASE WHEN o.status = 'pending' OR o.postponed THEN conveyor_jobs.result
                  ELSE o.result END,
    error = CASE WHEN o.status = 'pending' OR o.postponed THEN conveyor_jobs.error
                 ELSE o.error END,
    traceback = CASE WHEN o.status = 'pending' OR o.postponed THEN conveyor_jobs.traceback
                     ELSE o.traceback END
FROM (SELECT {_SETTLE_NAMES} FROM (VALUES {rows})) AS o
WHERE conveyor_jobs.id = o.id AND conveyor_jobs.status = 'processing'
  AND conveyor_jobs.worker_id = o.worker AND conveyor_jobs.attempts = o.attempt
"""


# A lease that ran out counts as a failed attempt: retry at once, or fail if out of tries.
# A job whose cancel was asked for while its worker was lost ends cancelled.
RECOVER_EXPIRED = """
UPDATE conveyor_jobs
SET status = CASE WHEN cancel_requested THEN 'cancelled'
                  WHEN attempts > max_retries THEN 'failed' ELSE 'pending' END,
    completed_at = CASE WHEN cancel_requested OR attempts > max_retries
                        THEN :now ELSE completed_at END,
    run_at = :now,
    error = 'worker lost: lease expired during attempt ' || attempts,
    traceback = NULL, worker_id = NULL, lease_expires_at = NULL, cancel_requested = 0
WHERE status = 'processing' AND lease_expires_at < :now
RETURNING id
"""

CANCEL_WAITING = """
UPDATE conveyor_jobs SET status = 'cancelled', completed_at = :now
WHERE id = :id AND status IN ('pending', 'scheduled')
"""

REQUEST_CANCEL = """
UPDATE conveyor_jobs SET cancel_requested = 1
WHERE id = :id AND status = 'processing'
"""

RETRY = """
UPDATE conveyor_jobs
SET status = 'pending', attempts = 0, run_at = :now, completed_at = NULL, cancel_requested = 0
WHERE id = :id AND status IN ('failed', 'cancelled')
"""

SET_PROGRESS = """
UPDATE conveyor_jobs SET progress = :percent, progress_message = :message
WHERE id = :id AND status = 'processing' AND worker_id = :worker
"""

GET = f"SELECT {COLUMNS} FROM conveyor_jobs WHERE id = ?"

LIST = f"""
SELECT {COLUMNS} FROM conveyor_jobs
WHERE queue = ? AND status = ?
ORDER BY id
LIMIT ? OFFSET ?
"""

# The counts the triggers of migration 4 keep: a few rows whatever the number of jobs.
STATS = "SELECT status, n FROM conveyor_counts WHERE queue = ?"

CLEAR_COMPLETED = "DELETE FROM conveyor_jobs WHERE queue = ? AND status = 'completed'"

NEXT_DUE = "SELECT min(run_at) FROM conveyor_jobs WHERE status = 'scheduled' AND queue = ?"

SCHEDULE_COLUMNS = "queue, key, spec, last_tick, next_tick, seen_at, last_job_id, paused"

# A schedule new to the store is stored as given; a known one keeps where it stands.
SAVE_SCHEDULE = f"""
INSERT INTO conveyor_schedules ({SCHEDULE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (queue, key) DO UPDATE
SET spec = excluded.spec, next_tick = excluded.next_tick, seen_at = excluded.seen_at
RETURNING {SCHEDULE_COLUMNS}
"""

# The compare-and-set that makes a tick fire once: the caller inserts the tick's jobs
# in the same transaction only if this changed the row.
FIRE_SCHEDULE = """
UPDATE conveyor_schedules
SET last_tick = :tick, next_tick = :next_tick, last_job_id = coalesce(:job_id, last_job_id)
WHERE queue = :queue AND key = :key AND NOT paused AND last_tick = :expected
"""

LIST_SCHEDULES = f"SELECT {SCHEDULE_COLUMNS} FROM conveyor_schedules WHERE queue = ? ORDER BY key"

# Resuming passes over the ticks missed while paused.
PAUSE_SCHEDULE = """
UPDATE conveyor_schedules
SET last_tick = CASE WHEN paused AND NOT :paused THEN max(last_tick, :now_tick)
                     ELSE last_tick END,
    paused = :paused
WHERE queue = :queue AND key = :key
"""

REMOVE_SCHEDULES = """
DELETE FROM conveyor_schedules
WHERE queue = :queue AND key IN (SELECT value FROM json_each(:keys))
"""

# The jobs a bulk operation takes (JobMatch): finished jobs' age counts from completed_at,
# the others' from created_at (their completed_at is NULL). Read through the status index.
_MATCH = """
queue = :queue AND status = :status AND (:name IS NULL OR name = :name)
AND name NOT IN (SELECT value FROM json_each(:skip_names))
AND (:before IS NULL OR coalesce(completed_at, created_at) < :before)
"""
_FIRST_MATCHING = f"SELECT id FROM conveyor_jobs WHERE {_MATCH} ORDER BY id LIMIT :limit"

COUNT_MATCHING = f"SELECT count(*) FROM conveyor_jobs WHERE {_MATCH}"

DELETE_MATCHING = f"""
DELETE FROM conveyor_jobs WHERE id IN ({_FIRST_MATCHING}) AND status != 'processing'
"""

RETRY_MATCHING = f"""
UPDATE conveyor_jobs
SET status = 'pending', attempts = 0, run_at = :now, completed_at = NULL, cancel_requested = 0
WHERE id IN ({_FIRST_MATCHING}) AND status IN ('failed', 'cancelled')
"""

CANCEL_MATCHING = f"""
UPDATE conveyor_jobs SET status = 'cancelled', completed_at = :now
WHERE id IN ({_FIRST_MATCHING}) AND status IN ('pending', 'scheduled')
"""

DELETE_ONE = "DELETE FROM conveyor_jobs WHERE id = ? AND status != 'processing'"

BEAT_WORKER = """
INSERT INTO conveyor_workers (worker_id, info, expires_at) VALUES (?, ?, ?)
ON CONFLICT (worker_id) DO UPDATE SET info = excluded.info, expires_at = excluded.expires_at
"""
LIST_WORKERS = "SELECT info FROM conveyor_workers WHERE expires_at > ? ORDER BY worker_id"
FORGET_EXPIRED_WORKERS = "DELETE FROM conveyor_workers WHERE expires_at <= ?"
FORGET_WORKER = "DELETE FROM conveyor_workers WHERE worker_id = ?"
