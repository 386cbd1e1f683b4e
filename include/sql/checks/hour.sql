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
           s.accepted AS s_accepted, r.accepted AS r_accepted,
           coalesce(s.all_rows, 0) - coalesce(s.accepted, 0) AS s_rejected,
           coalesce(r.all_rows, 0) - coalesce(r.accepted, 0) AS r_rejected,
           s.successful AS s_ok, r.successful AS r_ok, s.failed AS s_failed, r.failed AS r_failed,
           s.credits AS s_credits, r.credits AS r_credits, s.avg_runtime AS s_avg, r.avg_runtime AS r_avg,
           s.min_runtime, s.max_runtime, r.p95_runtime
    FROM rollup r
    FULL JOIN raw s ON s.workspace_id = r.workspace_id
)
-- the comparisons: ops.reconcile_compare (migration 0026), shared with day.sql and week.sql
SELECT d.table_name, p.workspace_id, d.column_name, d.rollup_value, d.source_value
FROM pairs p
CROSS JOIN LATERAL ops.reconcile_compare(
    'analytics.execution_metrics_hourly', p.r_accepted, p.s_accepted, p.r_ok, p.s_ok, p.r_failed, p.s_failed,
    p.r_credits, p.s_credits, p.r_avg, p.s_avg, hourly => TRUE, r_rejected => p.r_rejected,
    s_rejected => p.s_rejected, r_p95 => p.p95_runtime, s_min_runtime => p.min_runtime,
    s_max_runtime => p.max_runtime
) d
ORDER BY 1, 2, 3
