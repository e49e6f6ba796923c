-- How many jobs each queue holds in each status, kept by conveyor's own statements so
-- that get_stats reads a few rows instead of counting a million.
--
-- Every statement that adds, moves or deletes jobs appends its net changes to
-- job_count_changes in the same statement: an append, so that concurrent statements
-- never wait for one another on a counter row. fold_counts (queries.sql) moves the
-- changes into job_counts now and then; a count is its job_counts row plus its changes
-- not folded yet.

CREATE TABLE job_counts (
    queue  text COLLATE "C" NOT NULL,
    status text NOT NULL,
    n      bigint NOT NULL,
    PRIMARY KEY (queue, status)
);

CREATE TABLE job_count_changes (
    queue  text COLLATE "C" NOT NULL,
    status text NOT NULL,
    delta  bigint NOT NULL
);

-- Nothing may change jobs between this count and the commit of the migration.
LOCK TABLE jobs IN SHARE MODE;
INSERT INTO job_counts (queue, status, n)
SELECT queue, status, count(*) FROM jobs GROUP BY queue, status;
