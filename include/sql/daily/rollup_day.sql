-- Recompute one UTC day [start, end) of every daily table from the hourly partials, as
-- one transaction. Callers: agent_warehouse.rollups.periods (daily and weekly runs), after every
-- hour of the day is up to date. Re-running it for a day gives the same rows.

-- One writer per day at a time.
SELECT pg_advisory_xact_lock(ops.lock_key('rollup_day'), (%(day)s::date - date '2000-01-01'));

-- A day whose hourly partials were deleted (retention) is kept as it is: the guard returns
-- why and sets a transaction-local flag on which every write below is skipped (migration
-- 0012); its invalidations are still consumed. NULL: recompute the day.
SELECT ops.keep_expired_period('day', %(start)s::timestamptz) AS past_retention;

SET LOCAL work_mem = '128MB';

-- Consume the day's invalidations (the owner's function, migration 0023). They are logged
-- by the hourly partials' triggers in the transaction that changes the partials, so what
-- committed before this statement is visible to the reads below; later changes leave their
-- entries for the next run.
SELECT ops.begin_rollup('day', %(start)s::timestamptz) AS invalidations_consumed;

-- The day's runtime sketch: the bucket-wise sum of its hourly sketches, one workspace at a
-- time by ops.hourly_sketches_merged (migration 0027, inlined here: its rows read by the
-- primary key, a small hash per workspace, nothing concatenated first; figures:
-- docs/performance.md).
CREATE TEMP TABLE day_runtime_sketch ON COMMIT DROP AS
WITH hours AS (
    -- A fixed order: float sums depend on it, and reruns must give identical rows.
    SELECT workspace_id, sum(runtime_count)::bigint AS runtime_count,
           sum(runtime_sum ORDER BY hour) AS runtime_sum
    FROM analytics.runtime_sketch_hourly
    WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz
    GROUP BY workspace_id
)
SELECT h.workspace_id, h.runtime_count, h.runtime_sum, m.bucket_keys, m.bucket_counts
FROM hours h
CROSS JOIN LATERAL ops.hourly_sketches_merged(h.workspace_id, %(start)s::timestamptz, %(end)s::timestamptz) m;

SELECT ops.sync_period('analytics.runtime_sketch_daily', 'day_runtime_sketch', 'day', %(day)s::date,
    ARRAY['workspace_id'], ARRAY['runtime_count', 'runtime_sum', 'bucket_keys', 'bucket_counts']);

-- Execution metrics: counts and credits summed exactly, the mean from count and sum, the
-- p95 from the merged sketch (within 0.9% of PERCENTILE_CONT).
CREATE TEMP TABLE day_execution_metrics ON COMMIT DROP AS
WITH counts AS (
    SELECT workspace_id,
           sum(total_executions)::bigint      AS total_executions,
           sum(successful_executions)::bigint AS successful_executions,
           sum(failed_executions)::bigint     AS failed_executions,
           sum(total_credits)                 AS total_credits
    FROM analytics.execution_metrics_hourly
    WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz
    GROUP BY workspace_id
), agg AS (
    SELECT c.*, s.runtime_sum / s.runtime_count AS avg_runtime,
           ops.sketch_quantile(s.bucket_keys, s.bucket_counts, 0.95) AS p95_runtime
    FROM counts c
    LEFT JOIN analytics.runtime_sketch_daily s ON s.workspace_id = c.workspace_id AND s.day = %(day)s::date
)
SELECT workspace_id, total_executions, successful_executions, failed_executions, avg_runtime,
       p95_runtime, total_credits
FROM agg;

SELECT ops.sync_period('analytics.execution_metrics_daily', 'day_execution_metrics', 'day', %(day)s::date,
    ARRAY['workspace_id'],
    ARRAY['total_executions', 'successful_executions', 'failed_executions', 'avg_runtime', 'p95_runtime',
          'total_credits']);

-- Per user and day, from the per-user hourly rows (distinct users stay exact).
CREATE TEMP TABLE day_user_activity ON COMMIT DROP AS
SELECT workspace_id, user_id, sum(runs)::bigint AS runs, sum(credits) AS credits
FROM analytics.user_activity_hourly
WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz
GROUP BY workspace_id, user_id;

SELECT ops.sync_period('analytics.user_activity_daily', 'day_user_activity', 'day', %(day)s::date,
    ARRAY['workspace_id', 'user_id'], ARRAY['runs', 'credits']);

-- Daily active users (exact: one per-user row per distinct user) and credit consumption.
CREATE TEMP TABLE day_workspace_activity ON COMMIT DROP AS
WITH w AS (
    SELECT workspace_id, count(*) AS active_users, sum(runs)::bigint AS runs, sum(credits) AS credits
    FROM analytics.user_activity_daily
    WHERE day = %(day)s::date
    GROUP BY workspace_id
)
SELECT workspace_id, active_users, runs, runs::float8 / active_users AS runs_per_user,
       credits AS total_credits, credits / active_users AS credits_per_user
FROM w;

SELECT ops.sync_period('analytics.workspace_activity_daily', 'day_workspace_activity', 'day', %(day)s::date,
    ARRAY['workspace_id'], ARRAY['active_users', 'runs', 'runs_per_user', 'total_credits', 'credits_per_user']);

-- Record the day as rolled up (ops.periods_rolled_up) once its daily rows count every hourly
-- one; otherwise it is logged for the next run.
SELECT ops.finish_rollup('day', %(start)s::timestamptz) AS recorded;

-- What the day now holds (the task's result; the audit row counts rows written, migration 0014).
SELECT %(day)s::date::text AS day,
       (SELECT count(*) FROM analytics.execution_metrics_daily WHERE day = %(day)s::date) AS metric_rows,
       (SELECT count(*) FROM analytics.user_activity_daily WHERE day = %(day)s::date) AS user_rows;
