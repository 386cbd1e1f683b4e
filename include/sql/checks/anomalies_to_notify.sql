-- Flagged workspace-hours in [start, end) not yet sent to a notifier, worst first.
SELECT workspace_id::text, hour, metric, value, baseline, score, runs
FROM analytics.workspace_anomalies_hourly
WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz AND notified_at IS NULL
ORDER BY score DESC, workspace_id ASC, hour ASC, metric ASC
FOR UPDATE
