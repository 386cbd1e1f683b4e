-- Hours before the raw horizon (and after the previous cleanup's) whose raw rows are not
-- rolled up as they are now: dirty in the invalidation log, or counts that differ.
SELECT h
FROM ops.hours_not_rolled_up(
    coalesce((SELECT raw_kept_from FROM ops.retention_state), '-infinity'::timestamptz),
    %(keep_from)s::date::timestamp AT TIME ZONE 'UTC') AS h;
