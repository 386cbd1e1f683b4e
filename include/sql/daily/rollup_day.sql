-- Recompute one UTC day [start, end) of every daily table from the hourly partials, as
-- one transaction. Callers: agent_warehouse.periods (daily and weekly runs), after every
-- hour of the day is up to date. Re-running it for a day gives the same rows.

-- One writer per day at a time.
SELECT pg_advisory_xact_lock(ops.lock_key('rollup_day'), (%(day)s::date - date '2000-01-01'));

-- A day whose hourly partials were deleted (retention) is kept as it is: the guard returns
-- why and sets a transaction-local flag on which every write below is skipped (migration
-- 0012); its invalidations are still consumed. NULL: recompute the day.
SELECT ops.keep_expired_period('day', %(start)s::timestamptz) AS past_retention;

SET LOCAL work_mem = '128MB';

-- Consume the day's invalidations. They are logged by the hourly partials' triggers in the
-- transaction that changes the partials, so what committed before this statement is
-- visible to the reads below; later changes leave their entries for the next run.
DELETE FROM ops.rollup_invalidations WHERE grain = 'day' AND period = %(day)s::date;

INSERT INTO ops.periods_rolled_up (grain, period) VALUES ('day', %(day)s::date)
ON CONFLICT (grain, period) DO NOTHING;

-- The day's runtime sketch: the bucket-wise sum of its hourly sketches.
WITH hours AS (
    SELECT workspace_id, bucket_keys, bucket_counts
    FROM analytics.runtime_sketch_hourly
    WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz
), buckets AS (
    SELECT h.workspace_id, b.k, sum(b.c)::bigint AS c
    FROM hours h CROSS JOIN LATERAL unnest(h.bucket_keys, h.bucket_counts) b(k, c)
    GROUP BY 1, 2
), totals AS (
    -- A fixed order: float sums depend on it, and reruns must give identical rows.
    SELECT workspace_id, sum(runtime_count)::bigint AS runtime_count,
           sum(runtime_sum ORDER BY hour) AS runtime_sum
    FROM analytics.runtime_sketch_hourly
    WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz
    GROUP BY workspace_id
), sketch AS (
    SELECT t.workspace_id, t.runtime_count, t.runtime_sum,
           array_agg(b.k ORDER BY b.k) AS bucket_keys, array_agg(b.c ORDER BY b.k) AS bucket_counts
    FROM totals t JOIN buckets b USING (workspace_id)
    GROUP BY t.workspace_id, t.runtime_count, t.runtime_sum
), gone AS (
    DELETE FROM analytics.runtime_sketch_daily m
    WHERE m.day = %(day)s::date
      AND NOT EXISTS (SELECT 1 FROM sketch WHERE sketch.workspace_id = m.workspace_id)
)
INSERT INTO analytics.runtime_sketch_daily AS t
    (workspace_id, day, runtime_count, runtime_sum, bucket_keys, bucket_counts, updated_at)
SELECT workspace_id, %(day)s::date, runtime_count, runtime_sum, bucket_keys, bucket_counts, now()
FROM sketch
ON CONFLICT (workspace_id, day) DO UPDATE SET
    runtime_count = EXCLUDED.runtime_count,
    runtime_sum   = EXCLUDED.runtime_sum,
    bucket_keys   = EXCLUDED.bucket_keys,
    bucket_counts = EXCLUDED.bucket_counts,
    updated_at    = EXCLUDED.updated_at
WHERE (t.runtime_count, t.runtime_sum, t.bucket_keys, t.bucket_counts)
      IS DISTINCT FROM
      (EXCLUDED.runtime_count, EXCLUDED.runtime_sum, EXCLUDED.bucket_keys, EXCLUDED.bucket_counts);

-- Execution metrics: counts and credits summed exactly, the mean from count and sum, the
-- p95 from the merged sketch (within 0.9% of PERCENTILE_CONT).
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
), gone AS (
    DELETE FROM analytics.execution_metrics_daily m
    WHERE m.day = %(day)s::date
      AND NOT EXISTS (SELECT 1 FROM agg WHERE agg.workspace_id = m.workspace_id)
)
INSERT INTO analytics.execution_metrics_daily AS t
    (workspace_id, day, total_executions, successful_executions, failed_executions,
     avg_runtime, p95_runtime, total_credits, updated_at)
SELECT workspace_id, %(day)s::date, total_executions, successful_executions, failed_executions,
       avg_runtime, p95_runtime, total_credits, now()
FROM agg
ON CONFLICT (workspace_id, day) DO UPDATE SET
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

-- Per user and day, from the per-user hourly rows (distinct users stay exact).
WITH u AS (
    SELECT workspace_id, user_id, sum(runs)::bigint AS runs, sum(credits) AS credits
    FROM analytics.user_activity_hourly
    WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz
    GROUP BY workspace_id, user_id
), gone AS (
    DELETE FROM analytics.user_activity_daily m
    WHERE m.day = %(day)s::date
      AND NOT EXISTS (SELECT 1 FROM u WHERE u.workspace_id = m.workspace_id AND u.user_id = m.user_id)
)
INSERT INTO analytics.user_activity_daily AS t (workspace_id, day, user_id, runs, credits, updated_at)
SELECT workspace_id, %(day)s::date, user_id, runs, credits, now()
FROM u
ON CONFLICT (workspace_id, day, user_id) DO UPDATE SET
    runs       = EXCLUDED.runs,
    credits    = EXCLUDED.credits,
    updated_at = EXCLUDED.updated_at
WHERE (t.runs, t.credits) IS DISTINCT FROM (EXCLUDED.runs, EXCLUDED.credits);

-- Daily active users (exact: one per-user row per distinct user) and credit consumption.
WITH w AS (
    SELECT workspace_id, count(*) AS active_users, sum(runs)::bigint AS runs, sum(credits) AS credits
    FROM analytics.user_activity_daily
    WHERE day = %(day)s::date
    GROUP BY workspace_id
), gone AS (
    DELETE FROM analytics.workspace_activity_daily m
    WHERE m.day = %(day)s::date
      AND NOT EXISTS (SELECT 1 FROM w WHERE w.workspace_id = m.workspace_id)
)
INSERT INTO analytics.workspace_activity_daily AS t
    (workspace_id, day, active_users, runs, runs_per_user, total_credits, credits_per_user, updated_at)
SELECT workspace_id, %(day)s::date, active_users, runs, runs::float8 / active_users,
       credits, credits / active_users, now()
FROM w
ON CONFLICT (workspace_id, day) DO UPDATE SET
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

-- What the day now holds (XCom and the audit row).
SELECT %(day)s::date::text AS day,
       (SELECT count(*) FROM analytics.execution_metrics_daily WHERE day = %(day)s::date) AS metric_rows,
       (SELECT count(*) FROM analytics.user_activity_daily WHERE day = %(day)s::date) AS user_rows;
