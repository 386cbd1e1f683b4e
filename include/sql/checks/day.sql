-- Reconcile one UTC day [start, end), in one statement (one snapshot):
--   grain 'day':  analytics.execution_metrics_daily against the sum of the day's hourly rows,
--                 per workspace;
--   grain 'hour': while the day's raw rows are kept, each hour's rows against the raw rows
--                 themselves, summed per hour (one scan of the day into 24 groups: counts,
--                 rejected rows, credits exactly, the mean runtime), so a wrong hourly row
--                 is caught by the daily run and its hour re-rolled. Such an hour's
--                 differences come without a workspace; checks/reconcile.py asks the hour's
--                 own check (hour.sql) which workspaces they are.
-- The raw part can be switched off (AGENT_WAREHOUSE_RECONCILE_DAY_RAW, docs/checks.md says
-- what it costs).
-- Skipped: a day whose hourly partials expired or changed after the day was computed, and
-- hours past raw retention or whose raw rows changed after they were rolled up (the next
-- run recomputes those). One row per difference.
WITH horizon AS (
    SELECT coalesce((SELECT raw_kept_from FROM ops.retention_state), '-infinity'::timestamptz) AS raw_from,
           coalesce((SELECT hourly_kept_from FROM ops.retention_state), '-infinity'::timestamptz) AS hourly_from
), day_live AS (
    SELECT 1 AS go FROM horizon
    WHERE %(start)s::timestamptz >= horizon.hourly_from
      AND NOT EXISTS (SELECT 1 FROM ops.rollup_invalidations i WHERE i.grain = 'day' AND i.period = %(day)s::date)
), raw_live AS (
    -- %(raw)s: the setting AGENT_WAREHOUSE_RECONCILE_DAY_RAW (checks/settings.py)
    SELECT 1 AS go FROM horizon WHERE %(raw)s AND %(start)s::timestamptz >= horizon.raw_from
), hours AS (
    SELECT m.workspace_id, m.hour, m.total_executions, m.successful_executions, m.failed_executions,
           m.total_credits, m.avg_runtime, s.runtime_count
    FROM analytics.execution_metrics_hourly m
    LEFT JOIN analytics.runtime_sketch_hourly s ON s.workspace_id = m.workspace_id AND s.hour = m.hour
    WHERE m.hour >= %(start)s::timestamptz AND m.hour < %(end)s::timestamptz
), hour_sums AS (
    SELECT workspace_id, sum(total_executions) AS total, sum(successful_executions) AS ok,
           sum(failed_executions) AS failed, sum(total_credits) AS credits,
           sum(avg_runtime * runtime_count) / nullif(sum(runtime_count) FILTER (WHERE avg_runtime IS NOT NULL), 0) AS avg_runtime
    FROM hours
    GROUP BY workspace_id
), day_pairs AS (
    SELECT coalesce(d.workspace_id, h.workspace_id) AS workspace_id,
           d.total_executions AS r_total, h.total AS s_total, d.successful_executions AS r_ok, h.ok AS s_ok,
           d.failed_executions AS r_failed, h.failed AS s_failed, d.total_credits AS r_credits, h.credits AS s_credits,
           d.avg_runtime AS r_avg, h.avg_runtime AS s_avg
    FROM (SELECT * FROM analytics.execution_metrics_daily WHERE day = %(day)s::date) d
    FULL JOIN hour_sums h ON h.workspace_id = d.workspace_id
    WHERE EXISTS (SELECT 1 FROM day_live)
), raw AS (
    -- 24 groups, not one per workspace and hour: a small hash table, no sort
    SELECT date_bin('1 hour', started_at, '2000-01-01 00:00+00'::timestamptz) AS hour,
           count(*) AS all_rows,
           count(*) FILTER (WHERE ok) AS accepted,
           count(*) FILTER (WHERE ok AND status = 'completed') AS successful,
           count(*) FILTER (WHERE ok AND status = 'failed') AS failed,
           coalesce(sum(credits_consumed) FILTER (WHERE ok), 0) AS credits,
           sum(runtime_seconds) FILTER (WHERE ok) / count(runtime_seconds) FILTER (WHERE ok) AS avg_runtime
    FROM (SELECT started_at, status, runtime_seconds, credits_consumed,
                 ops.agent_run_usable(status, runtime_seconds, credits_consumed) AS ok
          FROM public.agent_runs
          WHERE started_at >= %(start)s::timestamptz AND started_at < %(end)s::timestamptz
            AND EXISTS (SELECT 1 FROM raw_live)) r
    GROUP BY 1
), rejected AS (
    SELECT hour, sum(row_count) AS rejected FROM ops.rejected_runs_hourly
    WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz AND EXISTS (SELECT 1 FROM raw_live)
    GROUP BY 1
), rollup AS (
    SELECT coalesce(m.hour, j.hour) AS hour, coalesce(m.accepted, 0) AS accepted,
           coalesce(j.rejected, 0) AS rejected, m.successful, m.failed, m.credits, m.avg_runtime
    FROM (SELECT hour, sum(total_executions) AS accepted, sum(successful_executions) AS successful,
                 sum(failed_executions) AS failed, sum(total_credits) AS credits,
                 sum(avg_runtime * runtime_count)
                 / nullif(sum(runtime_count) FILTER (WHERE avg_runtime IS NOT NULL), 0) AS avg_runtime
          FROM hours
          WHERE EXISTS (SELECT 1 FROM raw_live)
          GROUP BY hour) m
    FULL JOIN rejected j ON j.hour = m.hour
), hour_pairs AS (
    SELECT coalesce(r.hour, s.hour) AS hour,
           s.accepted AS s_accepted, r.accepted AS r_accepted,
           coalesce(s.all_rows, 0) - coalesce(s.accepted, 0) AS s_rejected, r.rejected AS r_rejected,
           s.successful AS s_ok, r.successful AS r_ok, s.failed AS s_failed, r.failed AS r_failed,
           s.credits AS s_credits, r.credits AS r_credits, s.avg_runtime AS s_avg, r.avg_runtime AS r_avg
    FROM rollup r
    FULL JOIN raw s ON s.hour = r.hour
), differences AS (
    -- the comparisons: ops.reconcile_compare (migration 0026), shared with hour.sql and week.sql
    SELECT 'day' AS grain, %(start)s::timestamptz AS period, d.table_name,
           p.workspace_id, d.column_name, d.rollup_value, d.source_value
    FROM day_pairs p
    CROSS JOIN LATERAL ops.reconcile_compare(
        'analytics.execution_metrics_daily', p.r_total, p.s_total, p.r_ok, p.s_ok, p.r_failed, p.s_failed,
        p.r_credits, p.s_credits, p.r_avg, p.s_avg
    ) d
    UNION ALL
    SELECT 'hour', p.hour, d.table_name, NULL::uuid, d.column_name, d.rollup_value, d.source_value
    FROM hour_pairs p
    CROSS JOIN LATERAL ops.reconcile_compare(
        'analytics.execution_metrics_hourly', p.r_accepted, p.s_accepted, p.r_ok, p.s_ok, p.r_failed, p.s_failed,
        p.r_credits, p.s_credits, p.r_avg, p.s_avg, hourly => TRUE, r_rejected => p.r_rejected,
        s_rejected => p.s_rejected
    ) d
    WHERE NOT EXISTS (SELECT 1 FROM ops.agent_runs_invalidations i WHERE i.hour = p.hour)
)
SELECT grain, period, table_name, workspace_id, column_name, rollup_value, source_value
FROM differences
ORDER BY 1, 2, 3, 4, 5
