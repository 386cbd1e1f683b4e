-- Hours of [start, end) never rolled up (no row in ops.hours_rolled_up), except hours whose
-- raw rows were dropped by retention: there is nothing left to roll up.
SELECT h
FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 hour', interval '1 hour') h
WHERE NOT EXISTS (SELECT 1 FROM ops.hours_rolled_up r WHERE r.hour = h)
  AND h >= coalesce((SELECT raw_kept_from FROM ops.retention_state), '-infinity'::timestamptz)
ORDER BY h
