-- The workspaces that consumed most credits on %(day)s.
SELECT workspace_id::text AS workspace, total_credits::text AS credits, total_executions
FROM analytics.execution_metrics_daily
WHERE day = %(day)s::date
ORDER BY total_credits DESC, workspace_id ASC
LIMIT %(limit)s;
