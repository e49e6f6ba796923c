-- The workers alive: each one's JSON info, until its last beat expires.

CREATE TABLE workers (
    worker_id  text COLLATE "C" PRIMARY KEY,
    info       text NOT NULL,
    expires_at timestamptz NOT NULL
);
