-- The workspace the demo runs the signal job for: the day's busiest.
SELECT workspace_id::text
FROM analytics.execution_metrics_daily
WHERE day = %(day)s::date
ORDER BY total_executions DESC
LIMIT 1;
