-- The day's flagged workspace-hours, for the daily report, worst first.
SELECT workspace_id::text, hour, metric, value, baseline, score, runs, dag_id, run_id
FROM analytics.workspace_anomalies_hourly
WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz
ORDER BY score DESC, workspace_id ASC, hour ASC, metric ASC
LIMIT %(limit)s
