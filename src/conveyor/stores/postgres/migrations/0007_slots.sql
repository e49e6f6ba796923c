-- Concurrency slots (handlers' concurrency=N): who holds one of a bucket's slots, and
-- until when (workers renew it with their heartbeat; a dead worker's runs out).

CREATE TABLE slots (
    bucket     text COLLATE "C" NOT NULL,
    holder     text COLLATE "C" NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (bucket, holder)
);
