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

-- The day's two costly reads in one statement, on both cores: the runtime sketch (the
-- bucket-wise sum of its hourly sketches, one workspace at a time by ops.hourly_sketch_merged,
-- migration 0031: a small hash per workspace, nothing concatenated first; 2.4 million
-- buckets, about 0.45 s of CPU at 200,000 runs an hour) in four shares of the workspaces, and
-- the per-user rows (one hash of the day's (workspace, user) pairs, sized from the pair's
-- statistics, 0031: about 0.15 s). The branches of the UNION ALL are a parallel plan's units of
-- work (Parallel Append), so the per-user hash runs beside the sketch shares; the rows are
-- split into the two sources below (user_id NULL: a workspace's sketch). bucket_total (the
-- rows a sketch holds) is the p95's rank below; it is not stored. Figures: docs/performance.md.
CREATE TEMP TABLE day_parts ON COMMIT DROP AS
SELECT workspace_id, NULL::uuid AS user_id, NULL::bigint AS runs, NULL::numeric AS credits,
       runtime_count, runtime_sum, bucket_keys, bucket_counts, bucket_total
FROM (SELECT * FROM ops.hourly_sketches_share(%(start)s::timestamptz, %(end)s::timestamptz, 0, 4)
      UNION ALL
      SELECT * FROM ops.hourly_sketches_share(%(start)s::timestamptz, %(end)s::timestamptz, 1, 4)
      UNION ALL
      SELECT * FROM ops.hourly_sketches_share(%(start)s::timestamptz, %(end)s::timestamptz, 2, 4)
      UNION ALL
      SELECT * FROM ops.hourly_sketches_share(%(start)s::timestamptz, %(end)s::timestamptz, 3, 4)) s
UNION ALL
SELECT workspace_id, user_id, runs, credits, NULL, NULL, NULL, NULL, NULL
FROM (SELECT workspace_id, user_id, sum(runs)::bigint AS runs, sum(credits) AS credits
      FROM analytics.user_activity_hourly
      WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz
      GROUP BY workspace_id, user_id) u;

CREATE TEMP TABLE day_runtime_sketch ON COMMIT DROP AS
SELECT workspace_id, runtime_count, runtime_sum, bucket_keys, bucket_counts, bucket_total
FROM day_parts WHERE user_id IS NULL;

CREATE TEMP TABLE day_user_activity ON COMMIT DROP AS
SELECT workspace_id, user_id, runs, credits FROM day_parts WHERE user_id IS NOT NULL;

SELECT ops.sync_period_changes('analytics.runtime_sketch_daily', 'day_runtime_sketch', 'day', %(day)s::date,
    ARRAY['workspace_id'], ARRAY['runtime_count', 'runtime_sum', 'bucket_keys', 'bucket_counts']);

-- Execution metrics: counts and credits summed exactly, the mean from count and sum, the
-- p95 from the merged sketch just written (within 0.9% of PERCENTILE_CONT; the same double
-- as ops.sketch_quantile, in one pass from the top: migration 0031).
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
           ops.sketch_quantile_of(s.bucket_keys, s.bucket_counts, s.bucket_total, 0.95) AS p95_runtime
    FROM counts c
    LEFT JOIN day_runtime_sketch s ON s.workspace_id = c.workspace_id
)
SELECT workspace_id, total_executions, successful_executions, failed_executions, avg_runtime,
       p95_runtime, total_credits
FROM agg;

SELECT ops.sync_period_changes('analytics.execution_metrics_daily', 'day_execution_metrics', 'day', %(day)s::date,
    ARRAY['workspace_id'],
    ARRAY['total_executions', 'successful_executions', 'failed_executions', 'avg_runtime', 'p95_runtime',
          'total_credits']);

-- Per user and day (read above, from the per-user hourly rows: distinct users stay exact).
SELECT ops.sync_period_changes('analytics.user_activity_daily', 'day_user_activity', 'day', %(day)s::date,
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

SELECT ops.sync_period_changes('analytics.workspace_activity_daily', 'day_workspace_activity', 'day', %(day)s::date,
    ARRAY['workspace_id'], ARRAY['active_users', 'runs', 'runs_per_user', 'total_credits', 'credits_per_user']);

-- Record the day as rolled up (ops.periods_rolled_up) once its daily rows count every hourly
-- one; otherwise it is logged for the next run.
SELECT ops.finish_rollup('day', %(start)s::timestamptz) AS recorded;

-- What the day now holds (the task's result; the audit row counts rows written, migration 0014).
SELECT %(day)s::date::text AS day,
       (SELECT count(*) FROM analytics.execution_metrics_daily WHERE day = %(day)s::date) AS metric_rows,
       (SELECT count(*) FROM analytics.user_activity_daily WHERE day = %(day)s::date) AS user_rows;
