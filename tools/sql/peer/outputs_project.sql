-- The package's exact daily outputs, to compare with the alternative's where they overlap.
SELECT m.workspace_id, m.day, m.total_executions, m.successful_executions, m.failed_executions,
       m.total_credits, m.avg_runtime, a.active_users
FROM analytics.execution_metrics_daily m
LEFT JOIN analytics.workspace_activity_daily a USING (workspace_id, day)
WHERE m.day >= %(first_day)s AND m.day < %(end_day)s;
