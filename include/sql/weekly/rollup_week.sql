-- Recompute one ISO week [start, end) (Monday to Monday, UTC) of every weekly table from
-- the daily rows, as one transaction. Callers: agent_warehouse.periods (weekly runs), after
-- every day of the week is up to date. Re-running it for a week gives the same rows.

SELECT pg_advisory_xact_lock(ops.lock_key('rollup_week'), (%(week)s::date - date '2000-01-03') / 7);

-- A rolled-up week whose days are all past retention is kept as it is (see rollup_day.sql
-- and migration 0012). NULL: recompute the week from its daily rows.
SELECT ops.keep_expired_period('week', %(week)s::date::timestamp AT TIME ZONE 'UTC') AS past_retention;

SET LOCAL work_mem = '128MB';

-- Consume the week's invalidations. They are logged by the daily tables' triggers in the
-- transaction that changes the daily rows read below (migration 0012), so every change
-- behind a deleted entry is visible to the statements that follow; later changes leave
-- their entries for the next run.
DELETE FROM ops.rollup_invalidations WHERE grain = 'week' AND period = %(week)s::date;

INSERT INTO ops.periods_rolled_up (grain, period) VALUES ('week', %(week)s::date)
ON CONFLICT (grain, period) DO NOTHING;

-- The week's runtime sketch: the bucket-wise sum of its seven daily sketches.
WITH days AS (
    SELECT workspace_id, bucket_keys, bucket_counts
    FROM analytics.runtime_sketch_daily
    WHERE day >= %(week)s::date AND day < %(week)s::date + 7
), buckets AS (
    SELECT d.workspace_id, b.k, sum(b.c)::bigint AS c
    FROM days d CROSS JOIN LATERAL unnest(d.bucket_keys, d.bucket_counts) b(k, c)
    GROUP BY 1, 2
), totals AS (
    SELECT workspace_id, sum(runtime_count)::bigint AS runtime_count,
           sum(runtime_sum ORDER BY day) AS runtime_sum
    FROM analytics.runtime_sketch_daily
    WHERE day >= %(week)s::date AND day < %(week)s::date + 7
    GROUP BY workspace_id
), sketch AS (
    SELECT t.workspace_id, t.runtime_count, t.runtime_sum,
           array_agg(b.k ORDER BY b.k) AS bucket_keys, array_agg(b.c ORDER BY b.k) AS bucket_counts
    FROM totals t JOIN buckets b USING (workspace_id)
    GROUP BY t.workspace_id, t.runtime_count, t.runtime_sum
), gone AS (
    DELETE FROM analytics.runtime_sketch_weekly m
    WHERE m.week_start = %(week)s::date
      AND NOT EXISTS (SELECT 1 FROM sketch WHERE sketch.workspace_id = m.workspace_id)
)
INSERT INTO analytics.runtime_sketch_weekly AS t
    (workspace_id, week_start, runtime_count, runtime_sum, bucket_keys, bucket_counts, updated_at)
SELECT workspace_id, %(week)s::date, runtime_count, runtime_sum, bucket_keys, bucket_counts, now()
FROM sketch
ON CONFLICT (workspace_id, week_start) DO UPDATE SET
    runtime_count = EXCLUDED.runtime_count,
    runtime_sum   = EXCLUDED.runtime_sum,
    bucket_keys   = EXCLUDED.bucket_keys,
    bucket_counts = EXCLUDED.bucket_counts,
    updated_at    = EXCLUDED.updated_at
WHERE (t.runtime_count, t.runtime_sum, t.bucket_keys, t.bucket_counts)
      IS DISTINCT FROM
      (EXCLUDED.runtime_count, EXCLUDED.runtime_sum, EXCLUDED.bucket_keys, EXCLUDED.bucket_counts);

WITH counts AS (
    SELECT workspace_id,
           sum(total_executions)::bigint      AS total_executions,
           sum(successful_executions)::bigint AS successful_executions,
           sum(failed_executions)::bigint     AS failed_executions,
           sum(total_credits)                 AS total_credits
    FROM analytics.execution_metrics_daily
    WHERE day >= %(week)s::date AND day < %(week)s::date + 7
    GROUP BY workspace_id
), agg AS (
    SELECT c.*, s.runtime_sum / s.runtime_count AS avg_runtime,
           ops.sketch_quantile(s.bucket_keys, s.bucket_counts, 0.95) AS p95_runtime
    FROM counts c
    LEFT JOIN analytics.runtime_sketch_weekly s
           ON s.workspace_id = c.workspace_id AND s.week_start = %(week)s::date
), gone AS (
    DELETE FROM analytics.execution_metrics_weekly m
    WHERE m.week_start = %(week)s::date
      AND NOT EXISTS (SELECT 1 FROM agg WHERE agg.workspace_id = m.workspace_id)
)
INSERT INTO analytics.execution_metrics_weekly AS t
    (workspace_id, week_start, total_executions, successful_executions, failed_executions,
     avg_runtime, p95_runtime, total_credits, updated_at)
SELECT workspace_id, %(week)s::date, total_executions, successful_executions, failed_executions,
       avg_runtime, p95_runtime, total_credits, now()
FROM agg
ON CONFLICT (workspace_id, week_start) DO UPDATE SET
    total_executions      = EXCLUDED.total_executions,
    successful_executions = EXCLUDED.successful_executions,
    failed_executions     = EXCLUDED.failed_executions,
    avg_runtime           = EXCLUDED.avg_runtime,
    p95_runtime           = EXCLUDED.p95_runtime,
    total_credits         = EXCLUDED.total_credits,
    updated_at            = EXCLUDED.updated_at
WHERE (t.total_executions, t.successful_executions, t.failed_executions, t.avg_runtime,
       t.p95_runtime, t.total_credits)
      IS DISTINCT FROM
      (EXCLUDED.total_executions, EXCLUDED.successful_executions, EXCLUDED.failed_executions,
       EXCLUDED.avg_runtime, EXCLUDED.p95_runtime, EXCLUDED.total_credits);

-- Weekly active users: distinct users over the week's per-user daily rows (exact).
WITH w AS (
    SELECT workspace_id, count(DISTINCT user_id) AS active_users, sum(runs)::bigint AS runs,
           sum(credits) AS credits
    FROM analytics.user_activity_daily
    WHERE day >= %(week)s::date AND day < %(week)s::date + 7
    GROUP BY workspace_id
), gone AS (
    DELETE FROM analytics.workspace_activity_weekly m
    WHERE m.week_start = %(week)s::date
      AND NOT EXISTS (SELECT 1 FROM w WHERE w.workspace_id = m.workspace_id)
)
INSERT INTO analytics.workspace_activity_weekly AS t
    (workspace_id, week_start, active_users, runs, runs_per_user, total_credits, credits_per_user, updated_at)
SELECT workspace_id, %(week)s::date, active_users, runs, runs::float8 / active_users,
       credits, credits / active_users, now()
FROM w
ON CONFLICT (workspace_id, week_start) DO UPDATE SET
    active_users     = EXCLUDED.active_users,
    runs             = EXCLUDED.runs,
    runs_per_user    = EXCLUDED.runs_per_user,
    total_credits    = EXCLUDED.total_credits,
    credits_per_user = EXCLUDED.credits_per_user,
    updated_at       = EXCLUDED.updated_at
WHERE (t.active_users, t.runs, t.runs_per_user, t.total_credits, t.credits_per_user)
      IS DISTINCT FROM
      (EXCLUDED.active_users, EXCLUDED.runs, EXCLUDED.runs_per_user, EXCLUDED.total_credits,
       EXCLUDED.credits_per_user);

SELECT %(week)s::date::text AS week_start,
       (SELECT count(*) FROM analytics.execution_metrics_weekly WHERE week_start = %(week)s::date) AS metric_rows,
       (SELECT count(*) FROM analytics.workspace_activity_weekly WHERE week_start = %(week)s::date) AS activity_rows;
