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
SELECT 'week' AS grain, %(week)s::date::timestamp AT TIME ZONE 'UTC' AS period,
       'analytics.execution_metrics_weekly' AS table_name, p.workspace_id, d.column_name, d.rollup_value, d.source_value
FROM pairs p
CROSS JOIN LATERAL (VALUES
    ('total_executions', coalesce(p.r_total, 0)::text, coalesce(p.s_total, 0)::text,
     coalesce(p.r_total, 0) <> coalesce(p.s_total, 0)),
    ('successful_executions', coalesce(p.r_ok, 0)::text, coalesce(p.s_ok, 0)::text,
     coalesce(p.r_ok, 0) <> coalesce(p.s_ok, 0)),
    ('failed_executions', coalesce(p.r_failed, 0)::text, coalesce(p.s_failed, 0)::text,
     coalesce(p.r_failed, 0) <> coalesce(p.s_failed, 0)),
    ('total_credits', coalesce(p.r_credits, 0)::text, coalesce(p.s_credits, 0)::text,
     coalesce(p.r_credits, 0) <> coalesce(p.s_credits, 0)),
    ('avg_runtime', p.r_avg::text, p.s_avg::text,
     (p.r_avg IS NULL) <> (p.s_avg IS NULL) OR abs(p.r_avg - p.s_avg) > 1e-9 * greatest(abs(p.s_avg), 1e-9))
) d(column_name, rollup_value, source_value, differs)
WHERE d.differs
ORDER BY 4, 5
