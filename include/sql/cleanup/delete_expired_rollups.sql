-- Rollup and audit rows past their retention. One transaction; small, indexed deletes.
WITH m AS (
    DELETE FROM analytics.execution_metrics_hourly WHERE hour < %(hourly_before)s::timestamptz RETURNING 1
), s AS (
    DELETE FROM analytics.runtime_sketch_hourly WHERE hour < %(hourly_before)s::timestamptz RETURNING 1
), u AS (
    DELETE FROM analytics.user_activity_hourly WHERE hour < %(hourly_before)s::timestamptz RETURNING 1
), w AS (
    DELETE FROM analytics.workspace_activity_hourly WHERE hour < %(hourly_before)s::timestamptz RETURNING 1
), r AS (
    DELETE FROM ops.rejected_runs_hourly WHERE hour < %(hourly_before)s::timestamptz RETURNING 1
), j AS (
    DELETE FROM ops.job_runs WHERE started_at < %(job_runs_before)s::timestamptz RETURNING 1
), d AS (
    DELETE FROM ops.deadline_misses WHERE recorded_at < %(job_runs_before)s::timestamptz RETURNING 1
)
SELECT (SELECT count(*) FROM m) + (SELECT count(*) FROM s) + (SELECT count(*) FROM u)
         + (SELECT count(*) FROM w) AS hourly_rows,
       (SELECT count(*) FROM r) AS rejected_rows,
       (SELECT count(*) FROM j) AS job_runs,
       (SELECT count(*) FROM d) AS deadline_misses;
