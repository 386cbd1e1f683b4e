-- Hours before the raw horizon (and after the previous cleanup's) that are not rolled up as
-- they are now: in the invalidation log, or holding raw rows but never rolled up. O(hours).
SELECT h
FROM ops.hours_not_current(
    coalesce((SELECT raw_kept_from FROM ops.retention_state), '-infinity'::timestamptz),
    %(keep_from)s::date::timestamp AT TIME ZONE 'UTC') h;
