-- The self-checks, second part (issue 21): every anomaly names the Airflow run that found
-- it, as every reconciliation incident already does (migration 0025), and the checks'
-- comparisons are written once, in a function the three reconciliation queries call.

-- ------------------------------------------------------ the run that found an anomaly
-- Set by the detect_anomalies task of hourly_rollup or daily_rollup (the latest run that
-- flagged the workspace-hour, with the value and score it found); NULL for rows flagged
-- outside Airflow (the demo's history, a person calling the function) and rows written
-- before this migration.
ALTER TABLE analytics.workspace_anomalies_hourly
    ADD COLUMN IF NOT EXISTS dag_id text,
    ADD COLUMN IF NOT EXISTS run_id text;

-- ------------------------------------------------------ the reconciliation's comparisons
-- One rollup row against its source, as the three checks (include/sql/checks/hour.sql,
-- day.sql, week.sql) compare them: one row per column that differs (table, column, the
-- rollup's value, the source's). A side missing (NULL counts) is a side of zeros.
--   every grain: total_executions, successful_executions, failed_executions and
--     total_credits exactly; avg_runtime to 1e-9 relative (the rollup sums runtimes
--     exactly, a plain float sum differs in the last bits);
--   hourly (an hour against its raw rows) also: the rejected rows of
--     ops.rejected_runs_hourly, and the p95 inside [least, greatest] runtime of the hour
--     (the exact p95 costs a sort; one scan bounds it).
-- A set-returning SQL function of one SELECT: the planner inlines it into the query.
CREATE OR REPLACE FUNCTION ops.reconcile_compare(
    target text,                -- the rollup table compared
    r_total numeric, s_total numeric,     -- counts as numeric: sums of bigint counts are
    r_ok numeric, s_ok numeric,           -- numeric, and a bigint is cast implicitly
    r_failed numeric, s_failed numeric,
    r_credits numeric, s_credits numeric,
    r_avg double precision, s_avg double precision,
    hourly boolean DEFAULT false,
    r_rejected numeric DEFAULT NULL, s_rejected numeric DEFAULT NULL,
    r_p95 double precision DEFAULT NULL,
    s_min_runtime double precision DEFAULT NULL, s_max_runtime double precision DEFAULT NULL
) RETURNS TABLE (table_name text, column_name text, rollup_value text, source_value text)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT d.table_name, d.column_name, d.rollup_value, d.source_value
    FROM (VALUES
        (target, 'total_executions', coalesce(r_total, 0)::text, coalesce(s_total, 0)::text,
         coalesce(r_total, 0) <> coalesce(s_total, 0)),
        ('ops.rejected_runs_hourly', 'row_count', coalesce(r_rejected, 0)::text, coalesce(s_rejected, 0)::text,
         hourly AND coalesce(r_rejected, 0) <> coalesce(s_rejected, 0)),
        (target, 'successful_executions', coalesce(r_ok, 0)::text, coalesce(s_ok, 0)::text,
         coalesce(r_ok, 0) <> coalesce(s_ok, 0)),
        (target, 'failed_executions', coalesce(r_failed, 0)::text, coalesce(s_failed, 0)::text,
         coalesce(r_failed, 0) <> coalesce(s_failed, 0)),
        (target, 'total_credits', coalesce(r_credits, 0)::text, coalesce(s_credits, 0)::text,
         coalesce(r_credits, 0) <> coalesce(s_credits, 0)),
        (target, 'avg_runtime', r_avg::text, s_avg::text,
         (r_avg IS NULL) <> (s_avg IS NULL) OR abs(r_avg - s_avg) > 1e-9 * greatest(abs(s_avg), 1e-9)),
        (target, 'p95_runtime', r_p95::text, '[' || s_min_runtime || ', ' || s_max_runtime || ']',
         hourly AND ((r_p95 IS NULL) <> (s_min_runtime IS NULL) OR r_p95 < s_min_runtime OR r_p95 > s_max_runtime))
    ) d(table_name, column_name, rollup_value, source_value, differs)
    WHERE d.differs IS TRUE
$$;

ALTER FUNCTION ops.reconcile_compare(text, numeric, numeric, numeric, numeric, numeric, numeric, numeric, numeric,
                                     double precision, double precision, boolean, numeric, numeric,
                                     double precision, double precision, double precision)
    OWNER TO agent_warehouse_owner;
