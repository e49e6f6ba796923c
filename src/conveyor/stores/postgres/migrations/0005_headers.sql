-- Message headers of each job: a JSON object set at enqueue (the trace context of the
-- enqueue, with tracing on), or NULL.

ALTER TABLE jobs ADD COLUMN headers text;
