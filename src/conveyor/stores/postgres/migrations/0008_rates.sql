-- Rate limits (handlers' rate_limit=): per bucket, the earliest time (epoch seconds,
-- the server's clock) the next start is allowed; each start moves it on by one interval.

CREATE TABLE rates (
    bucket text COLLATE "C" PRIMARY KEY,
    tat    float8 NOT NULL
);
