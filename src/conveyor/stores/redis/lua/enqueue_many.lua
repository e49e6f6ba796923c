-- Store new jobs, all in one call.
-- ARGV: origin, then per job: id, queue, status, priority, max_retries, run_at, attempts,
-- spec, n, then n more field/value pairs of the job's hash.
store_jobs(2)
publish(ARGV[1])
return #events
