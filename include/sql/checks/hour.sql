-- Reconcile one hour [start, end) with its raw rows, in one statement (one snapshot) and one
-- scan of the hour: per workspace, the raw rows must be the accepted rows of
-- analytics.execution_metrics_hourly plus the rejected rows of ops.rejected_runs_hourly, and
-- the statuses, credits and runtimes must agree. It aggregates the raw rows straight per
-- workspace, not through the rollup's per-bucket and per-user passes, so a mistake of those
-- shows here. Nothing is compared for an hour past raw retention (its rollup is kept as it
-- is) or an hour whose raw rows changed after it was rolled up (the next run re-rolls it).
-- One row per difference: table, workspace, column, the rollup's value, the source's.
WITH live AS (
    SELECT 1 AS go
    WHERE %(start)s::timestamptz >= coalesce((SELECT raw_kept_from FROM ops.retention_state), '-infinity'::timestamptz)
      AND NOT EXISTS (SELECT 1 FROM ops.agent_runs_invalidations i WHERE i.hour = %(start)s::timestamptz)
), raw AS (
    SELECT workspace_id,
           count(*) AS all_rows,
           count(*) FILTER (WHERE ok) AS accepted,
           count(*) FILTER (WHERE ok AND status = 'completed') AS successful,
           count(*) FILTER (WHERE ok AND status = 'failed') AS failed,
           coalesce(sum(credits_consumed) FILTER (WHERE ok), 0) AS credits,
           sum(runtime_seconds) FILTER (WHERE ok) / count(runtime_seconds) FILTER (WHERE ok) AS avg_runtime,
           min(runtime_seconds) FILTER (WHERE ok) AS min_runtime,
           max(runtime_seconds) FILTER (WHERE ok) AS max_runtime
    FROM (SELECT workspace_id, status, runtime_seconds, credits_consumed,
                 ops.agent_run_usable(status, runtime_seconds, credits_consumed) AS ok
          FROM public.agent_runs
          WHERE started_at >= %(start)s::timestamptz AND started_at < %(end)s::timestamptz
            AND EXISTS (SELECT 1 FROM live)) r
    GROUP BY workspace_id
), rejected AS (
    SELECT workspace_id, sum(row_count) AS rejected FROM ops.rejected_runs_hourly
    WHERE hour = %(start)s::timestamptz AND EXISTS (SELECT 1 FROM live)
    GROUP BY workspace_id
), rollup AS (
    SELECT coalesce(m.workspace_id, j.workspace_id) AS workspace_id,
           coalesce(m.total_executions, 0) AS accepted,
           coalesce(m.total_executions, 0) + coalesce(j.rejected, 0) AS all_rows,
           coalesce(m.successful_executions, 0) AS successful,
           coalesce(m.failed_executions, 0) AS failed,
           coalesce(m.total_credits, 0) AS credits,
           m.avg_runtime, m.p95_runtime
    FROM (SELECT * FROM analytics.execution_metrics_hourly
          WHERE hour = %(start)s::timestamptz AND EXISTS (SELECT 1 FROM live)) m
    FULL JOIN rejected j ON j.workspace_id = m.workspace_id
), pairs AS (
    SELECT coalesce(r.workspace_id, s.workspace_id) AS workspace_id,
           s.accepted AS s_accepted, r.accepted AS r_accepted, s.all_rows AS s_all, r.all_rows AS r_all,
           s.successful AS s_ok, r.successful AS r_ok, s.failed AS s_failed, r.failed AS r_failed,
           s.credits AS s_credits, r.credits AS r_credits, s.avg_runtime AS s_avg, r.avg_runtime AS r_avg,
           s.min_runtime, s.max_runtime, r.p95_runtime
    FROM rollup r
    FULL JOIN raw s ON s.workspace_id = r.workspace_id
)
SELECT d.table_name, p.workspace_id, d.column_name, d.rollup_value, d.source_value
FROM pairs p
CROSS JOIN LATERAL (VALUES
    ('analytics.execution_metrics_hourly', 'total_executions',
     coalesce(p.r_accepted, 0)::text, coalesce(p.s_accepted, 0)::text,
     coalesce(p.r_accepted, 0) <> coalesce(p.s_accepted, 0)),
    ('ops.rejected_runs_hourly', 'row_count',
     (coalesce(p.r_all, 0) - coalesce(p.r_accepted, 0))::text, (coalesce(p.s_all, 0) - coalesce(p.s_accepted, 0))::text,
     coalesce(p.r_all, 0) - coalesce(p.r_accepted, 0) <> coalesce(p.s_all, 0) - coalesce(p.s_accepted, 0)),
    ('analytics.execution_metrics_hourly', 'successful_executions',
     coalesce(p.r_ok, 0)::text, coalesce(p.s_ok, 0)::text, coalesce(p.r_ok, 0) <> coalesce(p.s_ok, 0)),
    ('analytics.execution_metrics_hourly', 'failed_executions',
     coalesce(p.r_failed, 0)::text, coalesce(p.s_failed, 0)::text, coalesce(p.r_failed, 0) <> coalesce(p.s_failed, 0)),
    ('analytics.execution_metrics_hourly', 'total_credits',
     coalesce(p.r_credits, 0)::text, coalesce(p.s_credits, 0)::text, coalesce(p.r_credits, 0) <> coalesce(p.s_credits, 0)),
    -- the rollup sums runtimes exactly (rollup_hour.sql); a plain float sum differs in the last bits
    ('analytics.execution_metrics_hourly', 'avg_runtime', p.r_avg::text, p.s_avg::text,
     (p.r_avg IS NULL) <> (p.s_avg IS NULL) OR abs(p.r_avg - p.s_avg) > 1e-9 * greatest(abs(p.s_avg), 1e-9)),
    -- the exact p95 costs a sort; one scan bounds it: between the hour's least and greatest runtime
    ('analytics.execution_metrics_hourly', 'p95_runtime', p.p95_runtime::text,
     '[' || p.min_runtime || ', ' || p.max_runtime || ']',
     (p.p95_runtime IS NULL) <> (p.min_runtime IS NULL) OR p.p95_runtime < p.min_runtime OR p.p95_runtime > p.max_runtime)
) d(table_name, column_name, rollup_value, source_value, differs)
WHERE d.differs
ORDER BY 1, 2, 3
