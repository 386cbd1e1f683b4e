-- Workspaces whose executions moved most from the day before, with their health.
WITH t AS (
    SELECT workspace_id, total_executions FROM analytics.execution_metrics_daily WHERE day = %(day)s::date
), y AS (
    SELECT workspace_id, total_executions FROM analytics.execution_metrics_daily WHERE day = %(day)s::date - 1
), moved AS (
    SELECT coalesce(t.workspace_id, y.workspace_id) AS workspace_id,
           coalesce(t.total_executions, 0) AS today, coalesce(y.total_executions, 0) AS before
    FROM t FULL JOIN y ON y.workspace_id = t.workspace_id
)
SELECT m.workspace_id::text, m.today, m.before, m.today - m.before AS delta, h.score, h.band
FROM moved m
LEFT JOIN analytics.workspace_health_daily h ON h.workspace_id = m.workspace_id AND h.day = %(day)s::date
ORDER BY abs(m.today - m.before) DESC, m.workspace_id
LIMIT %(limit)s;
