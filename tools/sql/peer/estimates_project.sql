-- The package's p95 at each grain: hourly exact (PERCENTILE_CONT's value), daily and weekly from merged sketches
-- (within 0.9%, docs/daily-weekly.md); weekly active users exact from the daily user rows.
SELECT 'hour' AS grain, 'exact' AS how, workspace_id, hour AS period, p95_runtime AS p95, NULL::bigint AS users
FROM analytics.execution_metrics_hourly WHERE hour >= %(first_hour)s AND hour < %(end_hour)s
UNION ALL
SELECT 'day', 'sketch', m.workspace_id, m.day::timestamp AT TIME ZONE 'UTC', m.p95_runtime, NULL
FROM analytics.execution_metrics_daily m WHERE m.day >= %(first_day)s AND m.day < %(end_day)s
UNION ALL
SELECT 'week', 'sketch', m.workspace_id, m.week_start::timestamp AT TIME ZONE 'UTC', m.p95_runtime, a.active_users
FROM analytics.execution_metrics_weekly m
LEFT JOIN analytics.workspace_activity_weekly a USING (workspace_id, week_start)
WHERE m.week_start = %(week)s;
