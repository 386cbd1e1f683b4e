-- The alternative's p95 at each grain: hourly exact (percentile_cont) and from the hour's
-- t-digest, daily and weekly from merged t-digests; weekly active users from hll.
SELECT 'hour' AS grain, 'exact' AS how, workspace_id, hour AS period, p95_runtime AS p95, NULL::bigint AS users
FROM peer.metrics_hourly WHERE hour >= %(first_hour)s AND hour < %(end_hour)s
UNION ALL
SELECT 'hour', 'digest', workspace_id, hour, tdigest_percentile(runtime_digest, 0.95), NULL
FROM peer.metrics_hourly WHERE hour >= %(first_hour)s AND hour < %(end_hour)s
GROUP BY workspace_id, hour
UNION ALL
SELECT 'day', 'digest', workspace_id, day::timestamp AT TIME ZONE 'UTC', p95_runtime, active_users
FROM peer.metrics_daily WHERE day >= %(first_day)s AND day < %(end_day)s
UNION ALL
SELECT 'week', 'digest', workspace_id, week_start::timestamp AT TIME ZONE 'UTC', p95_runtime, active_users
FROM peer.metrics_weekly WHERE week_start = %(week)s;
