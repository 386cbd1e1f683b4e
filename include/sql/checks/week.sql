-- Reconcile one ISO week with the sum of its daily rows, in one statement (one snapshot).
-- Skipped while the week's daily rows changed after it was computed (the next run
-- recomputes it). One row per difference.
WITH live AS (
    SELECT 1 AS go
    WHERE NOT EXISTS (SELECT 1 FROM ops.rollup_invalidations i WHERE i.grain = 'week' AND i.period = %(week)s::date)
), day_sums AS (
    SELECT m.workspace_id, sum(m.total_executions) AS total, sum(m.successful_executions) AS ok,
           sum(m.failed_executions) AS failed, sum(m.total_credits) AS credits,
           sum(m.avg_runtime * s.runtime_count)
           / nullif(sum(s.runtime_count) FILTER (WHERE m.avg_runtime IS NOT NULL), 0) AS avg_runtime
    FROM analytics.execution_metrics_daily m
    LEFT JOIN analytics.runtime_sketch_daily s ON s.workspace_id = m.workspace_id AND s.day = m.day
    WHERE m.day >= %(week)s::date AND m.day < %(week)s::date + 7
    GROUP BY m.workspace_id
), pairs AS (
    SELECT coalesce(w.workspace_id, d.workspace_id) AS workspace_id,
           w.total_executions AS r_total, d.total AS s_total, w.successful_executions AS r_ok, d.ok AS s_ok,
           w.failed_executions AS r_failed, d.failed AS s_failed, w.total_credits AS r_credits, d.credits AS s_credits,
           w.avg_runtime AS r_avg, d.avg_runtime AS s_avg
    FROM (SELECT * FROM analytics.execution_metrics_weekly WHERE week_start = %(week)s::date) w
    FULL JOIN day_sums d ON d.workspace_id = w.workspace_id
    WHERE EXISTS (SELECT 1 FROM live)
)
-- the comparisons: ops.reconcile_compare (migration 0026), shared with hour.sql and day.sql
SELECT 'week' AS grain, %(week)s::date::timestamp AT TIME ZONE 'UTC' AS period,
       d.table_name, p.workspace_id, d.column_name, d.rollup_value, d.source_value
FROM pairs p
CROSS JOIN LATERAL ops.reconcile_compare(
    'analytics.execution_metrics_weekly', p.r_total, p.s_total, p.r_ok, p.s_ok, p.r_failed, p.s_failed,
    p.r_credits, p.s_credits, p.r_avg, p.s_avg
) d
ORDER BY 4, 5
