-- The job table, its indexes, and the function every transition publishes events with.
-- Runs with search_path set to conveyor's schema: every name here lands in it.

CREATE TABLE jobs (
    id               text COLLATE "C" PRIMARY KEY,
    queue            text COLLATE "C" NOT NULL,
    name             text NOT NULL,
    payload          bytea NOT NULL,
    status           text NOT NULL CHECK (status IN
                         ('pending', 'scheduled', 'processing', 'completed', 'failed', 'cancelled')),
    priority         integer NOT NULL,
    max_retries      integer NOT NULL,
    retry_delay      float8 NOT NULL,
    timeout          float8,
    backoff          text,
    created_at       timestamptz NOT NULL,
    run_at           timestamptz NOT NULL,
    scheduled_at     timestamptz,
    attempts         integer NOT NULL DEFAULT 0,
    started_at       timestamptz,
    completed_at     timestamptz,
    worker_id        text,
    lease_expires_at timestamptz,
    result           bytea,
    error            text,
    traceback        text,
    progress         float8,
    progress_message text,
    cancel_requested boolean NOT NULL DEFAULT false
);

-- the next jobs to claim: the first rows of this index, nothing else is read
CREATE INDEX jobs_ready ON jobs (queue, priority DESC, run_at, id) WHERE status = 'pending';
-- delayed jobs and retries, by the time they become ready
CREATE INDEX jobs_delayed ON jobs (queue, run_at) WHERE status = 'scheduled';
-- running jobs, by lease deadline, for recovery of dead workers' jobs
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE status = 'processing';
-- listing and counting per status
CREATE INDEX jobs_status ON jobs (queue, status, id);

-- Sends the events of one statement as NOTIFY messages on `channel`, in the shape of
-- conveyor.stores.channel.encode_events, split so that no message nears the 8000-byte
-- limit; they are delivered when (and only if) the transaction commits. An event
-- whose queue name alone would overflow a message is left out rather than failing
-- the transition. With `durable` false, the transaction's commit does not wait for
-- the disk: claims, settles and heartbeats lost in a power cut only run a job again.
-- Returns how many messages were sent.
CREATE FUNCTION publish(
    channel text, origin text, durable boolean, events text[], ids text[], queues text[]
) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    sent integer;
BEGIN
    IF NOT durable THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    SELECT count(*) INTO sent FROM (
        SELECT pg_notify(channel, json_build_object(
                   'o', origin, 'e', json_agg(json_build_array(event, id, queue) ORDER BY n)
               )::text)
        FROM (
            -- a running size estimate, generous for names without control characters
            SELECT event, id, queue, n,
                   sum(2 * (octet_length(event) + octet_length(id) + octet_length(queue)) + 16)
                       OVER (ORDER BY n) / 7000 AS chunk
            FROM unnest(events, ids, queues) WITH ORDINALITY AS item (event, id, queue, n)
            WHERE octet_length(queue) < 3000
        ) items
        GROUP BY chunk
    ) messages;
    RETURN sent;
END
$$;
