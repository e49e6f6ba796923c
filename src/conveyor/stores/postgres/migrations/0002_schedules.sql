-- Recurring schedules: one row each, and where it stands. Ticks are epoch milliseconds
-- (bigint), so that the compare-and-set that fires a tick compares them exactly.

CREATE TABLE schedules (
    queue       text COLLATE "C" NOT NULL,
    key         text COLLATE "C" NOT NULL,
    spec        text NOT NULL,
    last_tick   bigint NOT NULL,
    next_tick   bigint,
    seen_at     float8 NOT NULL,
    last_job_id text,
    paused      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (queue, key)
);
