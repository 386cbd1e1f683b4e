-- The demo's summary of a day: busiest workspaces from the daily rollup, with their
-- failure rate, p95 (merged from the hourly sketches), credits and health score.
SELECT left(m.workspace_id::text, 8) AS workspace, m.total_executions,
       round(100.0 * m.failed_executions / m.total_executions, 1) AS failure_pct,
       round(m.p95_runtime::numeric, 1) AS p95_runtime_s,
       round(m.total_credits, 2) AS credits,
       round(h.score::numeric, 1) AS health, h.band
FROM analytics.execution_metrics_daily m
LEFT JOIN analytics.workspace_health_daily h USING (workspace_id, day)
WHERE m.day = %(day)s::date
ORDER BY m.total_executions DESC
LIMIT %(limit)s;
