-- Flagged workspace-hours detected since a moment (the Freshness page), newest first.
SELECT workspace_id::text, hour, metric, value, baseline, score, runs, dag_id, run_id
FROM analytics.workspace_anomalies_hourly
WHERE detected_at >= %(since)s::timestamptz
ORDER BY detected_at DESC, score DESC, workspace_id ASC, metric ASC
LIMIT %(limit)s
