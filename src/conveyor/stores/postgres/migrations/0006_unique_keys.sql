-- Unique jobs: the key a job holds in its queue (enqueue(key=...)) and until when it
-- keeps holding it once finished; read through a partial index of keyed jobs only.

ALTER TABLE jobs ADD COLUMN unique_key text COLLATE "C", ADD COLUMN unique_until timestamptz;
CREATE INDEX jobs_keys ON jobs (queue, unique_key) WHERE unique_key IS NOT NULL;
