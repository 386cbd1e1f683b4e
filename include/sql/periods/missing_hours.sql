-- Hours of [start, end) never rolled up (no row in ops.hours_rolled_up).
SELECT h
FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 hour', interval '1 hour') h
WHERE NOT EXISTS (SELECT 1 FROM ops.hours_rolled_up r WHERE r.hour = h)
ORDER BY h
