-- Every statement the PostgreSQL store runs, one named block each ("-- name: ...").
--
-- {schema} is conveyor's schema (quoted), so that a statement also runs on an
-- application's own connection, whatever its search_path. Times are timestamptz in the
-- table and epoch seconds (float8) on the wire; "now" is always the server's now().
--
-- Every statement that changes jobs sends their events with NOTIFY (delivered on
-- commit). Enqueues know theirs beforehand; the others hand their changed rows to
-- {schema}.publish, which also makes the commit asynchronous for the transitions a
-- power cut may lose (claims, settles, heartbeats, progress, recovery: at-least-once
-- allows them to be redone). The final SELECT joins the one-row "published", so that
-- it is evaluated whenever the statement changed anything.
--
-- Every statement that adds, moves or deletes jobs also names them in a CTE "moves"
-- (queue, was, now: the status before and after, NULL for none) and appends the net
-- changes of the counts with {counted} (queries.COUNTED; see migration 0004).

-- name: enqueue_one
-- One new job; `message` is its job:added event, encoded by the caller (who knows it
-- before the statement runs), sent on commit. One INSERT with the count's change beside
-- it (no unnest) is the cheapest statement for the server to plan and run.
WITH counted AS (
    INSERT INTO {schema}.job_count_changes (queue, status, delta)
    VALUES (%(queue)s, %(status)s, 1)
)
INSERT INTO {schema}.jobs (id, queue, name, payload, status, priority, max_retries,
                           retry_delay, timeout, backoff, created_at, run_at, scheduled_at,
                           headers, unique_key, unique_until)
VALUES (%(id)s, %(queue)s, %(name)s, %(payload)s, %(status)s, %(priority)s,
        %(max_retries)s, %(retry_delay)s, %(timeout)s, %(backoff)s,
        to_timestamp(%(created_at)s), to_timestamp(%(run_at)s),
        to_timestamp(%(scheduled_at)s::float8), %(headers)s::text, %(unique_key)s::text,
        to_timestamp(%(unique_until)s::float8))
RETURNING pg_notify(%(channel)s, %(message)s)

-- name: enqueue_many
-- New jobs from one array per column, in one statement; `messages` are their events,
-- encoded and split by the caller, sent on commit.
WITH added AS (
    INSERT INTO {schema}.jobs (id, queue, name, payload, status, priority, max_retries,
                               retry_delay, timeout, backoff, created_at, run_at, scheduled_at,
                               headers, unique_key, unique_until)
    SELECT id, queue, name, payload, status, priority, max_retries, retry_delay, timeout,
           backoff, to_timestamp(created_at), to_timestamp(run_at), to_timestamp(scheduled_at),
           headers, NULL, NULL
    FROM unnest(%(id)b::text[], %(queue)b::text[], %(name)b::text[], %(payload)b::bytea[],
                %(status)b::text[], %(priority)b::int[], %(max_retries)b::int[],
                %(retry_delay)b::float8[], %(timeout)b::float8[], %(backoff)b::text[],
                %(created_at)b::float8[], %(run_at)b::float8[], %(scheduled_at)b::float8[],
                %(headers)b::text[])
        AS r (id, queue, name, payload, status, priority, max_retries, retry_delay, timeout,
              backoff, created_at, run_at, scheduled_at, headers)
    RETURNING queue, status
),
moves AS (SELECT queue, NULL::text AS was, status AS now FROM added),
{counted}
SELECT pg_notify(%(channel)s, message) FROM unnest(%(messages)b::text[]) AS message

-- name: lock_key
-- Serialises the enqueues of one unique key until their transaction ends; key_holder
-- then runs as a statement of its own, so that its snapshot sees the last one's job.
SELECT pg_advisory_xact_lock(hashtext(%(queue)s), hashtext(%(unique_key)s))

-- name: lock_slots
SELECT pg_advisory_xact_lock(hashtext('conveyor-slots'), hashtext(%(bucket)s))

-- name: acquire_slot
-- Under lock_slots (a statement before it, so that this one's snapshot sees the last
-- taker's row): drop the bucket's run-out holders, renew ours, or take a free slot.
WITH expired AS (
    DELETE FROM {schema}.slots WHERE bucket = %(bucket)s AND expires_at <= now()
),
renewed AS (
    UPDATE {schema}.slots SET expires_at = now() + make_interval(secs => %(ttl)s)
    WHERE bucket = %(bucket)s AND holder = %(holder)s
    RETURNING 1
),
others AS (
    SELECT count(*) AS n FROM {schema}.slots
    WHERE bucket = %(bucket)s AND holder <> %(holder)s AND expires_at > now()
),
taken AS (
    INSERT INTO {schema}.slots (bucket, holder, expires_at)
    SELECT %(bucket)s, %(holder)s, now() + make_interval(secs => %(ttl)s)
    WHERE NOT EXISTS (SELECT 1 FROM renewed) AND (SELECT n FROM others) < %(limit)s
    ON CONFLICT (bucket, holder) DO NOTHING
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM renewed) OR EXISTS (SELECT 1 FROM taken)

-- name: release_slot
WITH released AS (
    DELETE FROM {schema}.slots WHERE bucket = %(bucket)s AND holder = %(holder)s RETURNING 1
)
SELECT count(*) FROM released

-- name: age_jobs
-- Aging: long-waiting pending jobs one priority level up (rows others hold are skipped),
-- read through jobs_ready (keyed on queue || '').
WITH chosen AS (
    SELECT id FROM {schema}.jobs
    WHERE status = 'pending' AND (queue || '') = %(queue)s AND priority < 3
      AND run_at < to_timestamp(%(before)s)
    LIMIT %(limit)s FOR UPDATE SKIP LOCKED
),
raised AS (
    UPDATE {schema}.jobs j SET priority = j.priority + 1, run_at = now()
    FROM chosen WHERE j.id = chosen.id AND j.status = 'pending'
    RETURNING 1
)
SELECT count(*) FROM raised

-- name: take_start
-- A rate-limited bucket's next start: taken if due (then due one interval later), else
-- how long until it is. The row lock of the upsert orders racing takers.
WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now),
taken AS (
    INSERT INTO {schema}.rates AS r (bucket, tat)
    SELECT %(bucket)s, now + %(interval)s FROM clock
    ON CONFLICT (bucket) DO UPDATE
    SET tat = CASE WHEN excluded.tat - %(interval)s - r.tat < %(interval)s  -- a little late
                   THEN r.tat + %(interval)s ELSE excluded.tat END
    WHERE r.tat <= excluded.tat - %(interval)s
    RETURNING 0.0::float8 AS wait
)
SELECT wait FROM taken
UNION ALL
SELECT greatest(r.tat - clock.now, 0.001) FROM {schema}.rates r, clock
WHERE r.bucket = %(bucket)s AND NOT EXISTS (SELECT 1 FROM taken)

-- name: key_holder
SELECT id FROM {schema}.jobs
WHERE queue = %(queue)s AND unique_key = %(unique_key)s
  AND (status IN ('pending', 'scheduled', 'processing') OR unique_until > now())
LIMIT 1

-- name: claim
-- Up to `limit` jobs of each queue are locked (ready ones by priority then age, due
-- scheduled ones by due time), skipping rows other claimers hold; the best `limit` of
-- them are taken. Each queue is read through its own index range, in index order
-- (queue || '' is jobs_ready's key: see migration 0009). The store writes the queues in
-- as literals, and `scan` (the limit, or above 32 the next power of two): claim_for.
WITH candidates AS (
    SELECT ready.* FROM unnest(%(queues)b::text[]) AS q (name) CROSS JOIN LATERAL (
        SELECT id, priority, run_at, status AS was FROM {schema}.jobs
        WHERE status = 'pending' AND (queue || '') = q.name
        ORDER BY priority DESC, run_at, id
        LIMIT %(scan)s FOR UPDATE SKIP LOCKED
    ) ready
    UNION ALL
    SELECT due.* FROM unnest(%(queues)b::text[]) AS q (name) CROSS JOIN LATERAL (
        SELECT id, priority, run_at, status AS was FROM {schema}.jobs
        WHERE status = 'scheduled' AND queue = q.name AND run_at <= now()
        ORDER BY run_at
        LIMIT %(scan)s FOR UPDATE SKIP LOCKED
    ) due
),
chosen AS (
    SELECT id, was FROM candidates ORDER BY priority DESC, run_at, id LIMIT %(limit)s
),
claimed AS (
    UPDATE {schema}.jobs j
    SET status = 'processing', attempts = j.attempts + 1, started_at = now(),
        worker_id = %(worker)s, lease_expires_at = now() + make_interval(secs => %(lease)s),
        cancel_requested = false, progress = NULL, progress_message = NULL
    FROM chosen
    WHERE j.id = chosen.id
    RETURNING {columns}
),
moves AS (
    SELECT c.queue, chosen.was, 'processing'::text AS now
    FROM claimed c JOIN chosen ON chosen.id = c.id
),
{counted},
published AS (
    SELECT {schema}.publish(%(channel)s, %(origin)s, false,
                            array_agg('job:started'::text), array_agg(id), array_agg(queue))
    FROM claimed
)
SELECT claimed.* FROM claimed, published
ORDER BY priority DESC, run_at, id

-- name: renew
WITH renewed AS (
    UPDATE {schema}.jobs
    SET lease_expires_at = now() + make_interval(secs => %(lease)s)
    WHERE id = ANY(%(ids)b::text[]) AND status = 'processing' AND worker_id = %(worker)s
    RETURNING id, cancel_requested
),
published AS (
    SELECT {schema}.publish(%(channel)s, %(origin)s, false, NULL, NULL, NULL)
)
SELECT id, cancel_requested FROM renewed, published

-- name: settle
-- One statement settles every kind of outcome; the WHERE clause is the ownership check.
-- A released job (pending) gets its attempt back and keeps its last result and error.
WITH outcome AS (
    SELECT * FROM unnest(%(id)b::text[], %(worker)b::text[], %(attempt)b::int[],
                         %(status)b::text[], %(event)b::text[], %(result)b::bytea[],
                         %(error)b::text[], %(traceback)b::text[], %(delay)b::float8[],
                         %(postponed)b::bool[])
        AS o (id, worker, attempt, status, event, result, error, traceback, delay, postponed)
),
settled AS (
    UPDATE {schema}.jobs j
    SET status = o.status,
        worker_id = NULL, lease_expires_at = NULL, cancel_requested = false,
        attempts = j.attempts - (o.status = 'pending' OR o.postponed)::int,
        run_at = CASE WHEN o.status IN ('scheduled', 'pending')
                      THEN now() + make_interval(secs => o.delay) ELSE j.run_at END,
        completed_at = CASE WHEN o.status IN ('completed', 'failed', 'cancelled')
                            THEN now() ELSE j.completed_at END,
        result = CASE WHEN o.status = 'pending' OR o.postponed THEN j.result ELSE o.result END,
        error = CASE WHEN o.status = 'pending' OR o.postponed THEN j.error ELSE o.error END,
        traceback = CASE WHEN o.status = 'pending' OR o.postponed
                         THEN j.traceback ELSE o.traceback END
    FROM outcome o
    WHERE j.id = o.id AND j.status = 'processing' AND j.worker_id = o.worker
      AND j.attempts = o.attempt
    RETURNING j.id, j.queue, o.event, j.status
),
moves AS (SELECT queue, 'processing'::text AS was, status AS now FROM settled),
{counted},
published AS (
    SELECT {schema}.publish(%(channel)s, %(origin)s, false,
                            array_agg(event), array_agg(id), array_agg(queue))
    FROM settled
)
SELECT id FROM settled, published

-- name: recover_expired
-- A lease that ran out counts as a failed attempt: retry at once, or fail if out of
-- tries. A job whose cancel was asked for while its worker was lost ends cancelled.
-- A row a worker is renewing or settling is waited for, then checked again.
WITH expired AS (
    UPDATE {schema}.jobs
    SET status = CASE WHEN cancel_requested THEN 'cancelled'
                      WHEN attempts > max_retries THEN 'failed' ELSE 'pending' END,
        completed_at = CASE WHEN cancel_requested OR attempts > max_retries
                            THEN now() ELSE completed_at END,
        run_at = now(),
        error = 'worker lost: lease expired during attempt ' || attempts,
        traceback = NULL, worker_id = NULL, lease_expires_at = NULL, cancel_requested = false
    WHERE status = 'processing' AND lease_expires_at < now()
    RETURNING id, queue, status, CASE status WHEN 'pending' THEN 'job:recovered'
                                             ELSE 'job:' || status END AS event
),
moves AS (SELECT queue, 'processing'::text AS was, status AS now FROM expired),
{counted},
published AS (
    SELECT {schema}.publish(%(channel)s, %(origin)s, false,
                            array_agg(event), array_agg(id), array_agg(queue))
    FROM expired
)
SELECT id FROM expired, published

-- name: cancel
-- A waiting job is cancelled; a running one is flagged for its worker (who learns of
-- it with its next heartbeat). Returns the status after the call.
WITH found AS (
    SELECT id, status AS was FROM {schema}.jobs
    WHERE id = %(id)s AND status IN ('pending', 'scheduled', 'processing')
    FOR UPDATE
),
cancelled AS (
    UPDATE {schema}.jobs j
    SET status = CASE WHEN j.status = 'processing' THEN j.status ELSE 'cancelled' END,
        completed_at = CASE WHEN j.status = 'processing' THEN j.completed_at ELSE now() END,
        cancel_requested = (j.status = 'processing')
    FROM found WHERE j.id = found.id
    RETURNING j.id, j.queue, j.status, found.was
),
moves AS (SELECT queue, was, status AS now FROM cancelled WHERE status <> was),
{counted},
published AS (
    SELECT {schema}.publish(%(channel)s, %(origin)s, true,
                            array_agg('job:cancelled'::text) FILTER (WHERE status = 'cancelled'),
                            array_agg(id) FILTER (WHERE status = 'cancelled'),
                            array_agg(queue) FILTER (WHERE status = 'cancelled'))
    FROM cancelled
)
SELECT status FROM cancelled, published

-- name: retry
WITH found AS (
    SELECT id, status AS was FROM {schema}.jobs
    WHERE id = %(id)s AND status IN ('failed', 'cancelled')
    FOR UPDATE
),
requeued AS (
    UPDATE {schema}.jobs j
    SET status = 'pending', attempts = 0, run_at = now(), completed_at = NULL,
        cancel_requested = false
    FROM found WHERE j.id = found.id
    RETURNING j.id, j.queue, found.was
),
moves AS (SELECT queue, was, 'pending'::text AS now FROM requeued),
{counted},
published AS (
    SELECT {schema}.publish(%(channel)s, %(origin)s, true,
                            array_agg('job:requeued'::text), array_agg(id), array_agg(queue))
    FROM requeued
)
SELECT id FROM requeued, published

-- name: set_progress
WITH reported AS (
    UPDATE {schema}.jobs
    SET progress = %(percent)s, progress_message = %(message)s
    WHERE id = %(id)s AND status = 'processing' AND worker_id = %(worker)s
    RETURNING id, queue
),
published AS (
    SELECT {schema}.publish(%(channel)s, %(origin)s, false,
                            array_agg('job:progress'::text), array_agg(id), array_agg(queue))
    FROM reported
)
SELECT id FROM reported, published

-- name: get
SELECT {columns} FROM {schema}.jobs j WHERE j.id = %(id)s

-- name: list_jobs
SELECT {columns} FROM {schema}.jobs j
WHERE j.queue = %(queue)s AND j.status = %(status)s
ORDER BY j.id
LIMIT %(limit)s OFFSET %(offset)s

-- name: stats
-- The kept counts: each one's folded value plus its changes not folded yet.
SELECT status, sum(n)::int8 FROM (
    SELECT status, n FROM {schema}.job_counts WHERE queue = %(queue)s
    UNION ALL
    SELECT status, delta FROM {schema}.job_count_changes WHERE queue = %(queue)s
) counts
GROUP BY status

-- name: fold_counts
-- Move the appended count changes into job_counts, in one transaction (readers see
-- them before or after, never both); a fold running elsewhere is not waited for.
WITH folding AS (SELECT pg_try_advisory_xact_lock(%(lock)s) AS mine),
taken AS (
    DELETE FROM {schema}.job_count_changes WHERE (SELECT mine FROM folding)
    RETURNING queue, status, delta
),
folded AS (
    INSERT INTO {schema}.job_counts AS c (queue, status, n)
    SELECT queue, status, sum(delta) FROM taken GROUP BY queue, status
    ON CONFLICT (queue, status) DO UPDATE SET n = c.n + excluded.n
    RETURNING 1
)
SELECT count(*) FROM folded

-- name: clear_completed
WITH deleted AS (
    DELETE FROM {schema}.jobs WHERE queue = %(queue)s AND status = 'completed'
    RETURNING queue
),
moves AS (SELECT queue, 'completed'::text AS was, NULL::text AS now FROM deleted),
{counted}
SELECT count(*) FROM deleted

-- name: next_due
SELECT extract(epoch FROM min(due.run_at))::float8
FROM unnest(%(queues)b::text[]) AS q (name) CROSS JOIN LATERAL (
    SELECT run_at FROM {schema}.jobs
    WHERE status = 'scheduled' AND queue = q.name
    ORDER BY run_at LIMIT 1
) due

-- name: save_schedules
-- A schedule new to the store is stored as given; a known one keeps where it stands
-- and takes the new definition.
WITH saved AS (
    INSERT INTO {schema}.schedules AS s (queue, key, spec, last_tick, next_tick, seen_at)
    SELECT * FROM unnest(%(queue)b::text[], %(key)b::text[], %(spec)b::text[],
                         %(last_tick)b::int8[], %(next_tick)b::int8[], %(seen_at)b::float8[])
    ON CONFLICT (queue, key) DO UPDATE
    SET spec = excluded.spec, next_tick = excluded.next_tick, seen_at = excluded.seen_at
    RETURNING s.*
)
SELECT queue, key, spec, last_tick, next_tick, seen_at, last_job_id, paused
FROM saved ORDER BY key

-- name: move_schedule
-- The compare-and-set that makes a tick fire once; the store inserts the tick's jobs in
-- the same transaction only if this returned a row.
UPDATE {schema}.schedules
SET last_tick = %(tick)s, next_tick = %(next_tick)s,
    last_job_id = coalesce(%(job_id)s, last_job_id)
WHERE queue = %(queue)s AND key = %(key)s AND NOT paused AND last_tick = %(expected)s
RETURNING 1

-- name: list_schedules
SELECT queue, key, spec, last_tick, next_tick, seen_at, last_job_id, paused
FROM {schema}.schedules WHERE queue = %(queue)s ORDER BY key

-- name: pause_schedule
-- Resuming passes over the ticks missed while paused.
UPDATE {schema}.schedules
SET last_tick = CASE WHEN paused AND NOT %(paused)s THEN greatest(last_tick, %(now_tick)s)
                     ELSE last_tick END,
    paused = %(paused)s
WHERE queue = %(queue)s AND key = %(key)s
RETURNING 1

-- name: remove_schedules
WITH deleted AS (
    DELETE FROM {schema}.schedules WHERE queue = %(queue)s AND key = ANY(%(keys)b::text[])
    RETURNING 1
)
SELECT count(*) FROM deleted

-- name: count_matching
-- The bulk operations: "match" (queries.MATCH) is the condition of the jobs a JobMatch
-- takes, read through the status index; finished jobs' age counts from completed_at,
-- the others' from created_at (their completed_at is NULL). "pick" (queries.PICK) is
-- the ids of the oldest `limit` of them, locked (rows others hold are skipped).
SELECT count(*) FROM {schema}.jobs j WHERE {match}

-- name: delete_matching
WITH chosen AS ({pick}),
deleted AS (
    DELETE FROM {schema}.jobs d USING chosen
    WHERE d.id = chosen.id AND d.status <> 'processing'
    RETURNING d.queue, d.status
),
moves AS (SELECT queue, status AS was, NULL::text AS now FROM deleted),
{counted}
SELECT count(*) FROM deleted

-- name: retry_matching
WITH chosen AS ({pick}),
requeued AS (
    UPDATE {schema}.jobs r
    SET status = 'pending', attempts = 0, run_at = now(), completed_at = NULL,
        cancel_requested = false
    FROM chosen WHERE r.id = chosen.id AND r.status IN ('failed', 'cancelled')
    RETURNING r.id, r.queue
),
moves AS (SELECT queue, %(status)s::text AS was, 'pending'::text AS now FROM requeued),
{counted},
published AS (
    SELECT {schema}.publish(%(channel)s, %(origin)s, true,
                            array_agg('job:requeued'::text), array_agg(id), array_agg(queue))
    FROM requeued
)
SELECT count(*) FROM requeued, published

-- name: cancel_matching
WITH chosen AS ({pick}),
cancelled AS (
    UPDATE {schema}.jobs c SET status = 'cancelled', completed_at = now()
    FROM chosen WHERE c.id = chosen.id AND c.status IN ('pending', 'scheduled')
    RETURNING c.id, c.queue
),
moves AS (SELECT queue, %(status)s::text AS was, 'cancelled'::text AS now FROM cancelled),
{counted},
published AS (
    SELECT {schema}.publish(%(channel)s, %(origin)s, true,
                            array_agg('job:cancelled'::text), array_agg(id), array_agg(queue))
    FROM cancelled
)
SELECT count(*) FROM cancelled, published

-- name: delete_job
WITH deleted AS (
    DELETE FROM {schema}.jobs WHERE id = %(id)s AND status <> 'processing'
    RETURNING queue, status
),
moves AS (SELECT queue, status AS was, NULL::text AS now FROM deleted),
{counted}
SELECT 1 FROM deleted

-- name: beat_worker
-- Keep a worker's info until now + ttl; workers whose last beat expired go.
WITH expired AS (DELETE FROM {schema}.workers WHERE expires_at <= now())
INSERT INTO {schema}.workers (worker_id, info, expires_at)
VALUES (%(worker_id)s, %(info)s, now() + make_interval(secs => %(ttl)s))
ON CONFLICT (worker_id) DO UPDATE SET info = excluded.info, expires_at = excluded.expires_at
RETURNING 1

-- name: list_workers
SELECT info FROM {schema}.workers WHERE expires_at > now() ORDER BY worker_id

-- name: forget_worker
DELETE FROM {schema}.workers WHERE worker_id = %(worker_id)s RETURNING 1
