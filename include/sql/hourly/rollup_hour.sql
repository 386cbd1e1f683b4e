-- Recompute one clock hour [start, end) of every hourly table, as one transaction.
-- Callers: the hourly_rollup DAG's rollup_hour task (its own hour) and the repair of
-- hours named in the invalidation log. Re-running it for an hour gives the same rows.

-- One writer per hour at a time: a second run of the same hour waits, then recomputes.
SELECT pg_advisory_xact_lock(7310003, (extract(epoch FROM %(start)s::timestamptz) / 3600)::integer);

-- An hour whose raw rows were dropped (retention) is kept as it is: the guard returns why
-- and sets a transaction-local flag on which every write below is skipped (triggers of
-- migration 0012), so the rest of this script changes nothing. NULL: roll the hour up.
SELECT ops.keep_expired_period('hour', %(start)s::timestamptz) AS past_retention;

-- Percentile sorts and the bucket aggregation of a busy hour fit in memory.
SET LOCAL work_mem = '128MB';

-- Consume the hour's invalidations. Only entries committed before this statement are
-- removed, and everything they describe is visible to the statements below; changes that
-- commit later leave their entries for the next run.
DELETE FROM ops.agent_runs_invalidations WHERE hour = %(start)s::timestamptz;

-- Record that the hour has been rolled up (migration 0002): a daily run rolls up the hours
-- of its day that are missing here, so it is exact even if hourly runs never happened.
INSERT INTO ops.hours_rolled_up (hour) VALUES (%(start)s::timestamptz)
ON CONFLICT (hour) DO UPDATE SET rolled_at = EXCLUDED.rolled_at;

-- Execution metrics, exactly as the contract defines them, over the usable rows.
WITH agg AS (
    SELECT workspace_id,
           count(*)                                       AS total_executions,
           count(*) FILTER (WHERE status = 'completed')   AS successful_executions,
           count(*) FILTER (WHERE status = 'failed')      AS failed_executions,
           avg(runtime_seconds)                           AS avg_runtime,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY runtime_seconds) AS p95_runtime,
           coalesce(sum(credits_consumed), 0)             AS total_credits
    FROM public.agent_runs
    WHERE started_at >= %(start)s::timestamptz AND started_at < %(end)s::timestamptz
      AND ops.agent_run_defect(status, runtime_seconds, credits_consumed) IS NULL
    GROUP BY workspace_id
), gone AS (
    DELETE FROM analytics.execution_metrics_hourly m
    WHERE m.hour = %(start)s::timestamptz
      AND NOT EXISTS (SELECT 1 FROM agg WHERE agg.workspace_id = m.workspace_id)
)
INSERT INTO analytics.execution_metrics_hourly AS t
    (workspace_id, hour, total_executions, successful_executions, failed_executions,
     avg_runtime, p95_runtime, total_credits, updated_at)
SELECT workspace_id, %(start)s::timestamptz, total_executions, successful_executions,
       failed_executions, avg_runtime, p95_runtime, total_credits, now()
FROM agg
ON CONFLICT (workspace_id, hour) DO UPDATE SET
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

-- Mergeable runtime partials: count, sum and the log-bucket sketch.
WITH buckets AS (
    SELECT workspace_id, ops.runtime_bucket(runtime_seconds) AS k,
           count(*) AS c, sum(runtime_seconds) AS s
    FROM public.agent_runs
    WHERE started_at >= %(start)s::timestamptz AND started_at < %(end)s::timestamptz
      AND runtime_seconds IS NOT NULL
      AND ops.agent_run_defect(status, runtime_seconds, credits_consumed) IS NULL
    GROUP BY 1, 2
), sketch AS (
    SELECT workspace_id, sum(c)::bigint AS runtime_count, sum(s) AS runtime_sum,
           array_agg(k ORDER BY k) AS bucket_keys, array_agg(c ORDER BY k) AS bucket_counts
    FROM buckets
    GROUP BY workspace_id
), gone AS (
    DELETE FROM analytics.runtime_sketch_hourly m
    WHERE m.hour = %(start)s::timestamptz
      AND NOT EXISTS (SELECT 1 FROM sketch WHERE sketch.workspace_id = m.workspace_id)
)
INSERT INTO analytics.runtime_sketch_hourly AS t
    (workspace_id, hour, runtime_count, runtime_sum, bucket_keys, bucket_counts, updated_at)
SELECT workspace_id, %(start)s::timestamptz, runtime_count, runtime_sum, bucket_keys, bucket_counts, now()
FROM sketch
ON CONFLICT (workspace_id, hour) DO UPDATE SET
    runtime_count = EXCLUDED.runtime_count,
    runtime_sum   = EXCLUDED.runtime_sum,
    bucket_keys   = EXCLUDED.bucket_keys,
    bucket_counts = EXCLUDED.bucket_counts,
    updated_at    = EXCLUDED.updated_at
WHERE (t.runtime_count, t.runtime_sum, t.bucket_keys, t.bucket_counts)
      IS DISTINCT FROM
      (EXCLUDED.runtime_count, EXCLUDED.runtime_sum, EXCLUDED.bucket_keys, EXCLUDED.bucket_counts);

-- User activity and per-user credits (runs without a user under the nil UUID).
WITH u AS (
    SELECT workspace_id,
           coalesce(user_id, '00000000-0000-0000-0000-000000000000'::uuid) AS user_id,
           count(*) AS runs, coalesce(sum(credits_consumed), 0) AS credits
    FROM public.agent_runs
    WHERE started_at >= %(start)s::timestamptz AND started_at < %(end)s::timestamptz
      AND ops.agent_run_defect(status, runtime_seconds, credits_consumed) IS NULL
    GROUP BY 1, 2
), gone AS (
    DELETE FROM analytics.user_activity_hourly m
    WHERE m.hour = %(start)s::timestamptz
      AND NOT EXISTS (SELECT 1 FROM u WHERE u.workspace_id = m.workspace_id AND u.user_id = m.user_id)
)
INSERT INTO analytics.user_activity_hourly AS t (workspace_id, hour, user_id, runs, credits, updated_at)
SELECT workspace_id, %(start)s::timestamptz, user_id, runs, credits, now()
FROM u
ON CONFLICT (workspace_id, hour, user_id) DO UPDATE SET
    runs       = EXCLUDED.runs,
    credits    = EXCLUDED.credits,
    updated_at = EXCLUDED.updated_at
WHERE (t.runs, t.credits) IS DISTINCT FROM (EXCLUDED.runs, EXCLUDED.credits);

-- Workspace activity and credit consumption, from the per-user rows just written.
WITH w AS (
    SELECT workspace_id, count(*) AS active_users, sum(runs) AS runs, sum(credits) AS credits
    FROM analytics.user_activity_hourly
    WHERE hour = %(start)s::timestamptz
    GROUP BY workspace_id
), gone AS (
    DELETE FROM analytics.workspace_activity_hourly m
    WHERE m.hour = %(start)s::timestamptz
      AND NOT EXISTS (SELECT 1 FROM w WHERE w.workspace_id = m.workspace_id)
)
INSERT INTO analytics.workspace_activity_hourly AS t
    (workspace_id, hour, active_users, runs_per_user, total_credits, credits_per_user, updated_at)
SELECT workspace_id, %(start)s::timestamptz, active_users, runs::float8 / active_users,
       credits, credits / active_users, now()
FROM w
ON CONFLICT (workspace_id, hour) DO UPDATE SET
    active_users     = EXCLUDED.active_users,
    runs_per_user    = EXCLUDED.runs_per_user,
    total_credits    = EXCLUDED.total_credits,
    credits_per_user = EXCLUDED.credits_per_user,
    updated_at       = EXCLUDED.updated_at
WHERE (t.active_users, t.runs_per_user, t.total_credits, t.credits_per_user)
      IS DISTINCT FROM
      (EXCLUDED.active_users, EXCLUDED.runs_per_user, EXCLUDED.total_credits, EXCLUDED.credits_per_user);

-- Bad rows: counted per workspace and reason, left out of every metric above.
DELETE FROM ops.rejected_runs_hourly WHERE hour = %(start)s::timestamptz;
INSERT INTO ops.rejected_runs_hourly (hour, workspace_id, reason, row_count)
SELECT %(start)s::timestamptz, workspace_id, reason, count(*)
FROM (
    SELECT workspace_id, ops.agent_run_defect(status, runtime_seconds, credits_consumed) AS reason
    FROM public.agent_runs
    WHERE started_at >= %(start)s::timestamptz AND started_at < %(end)s::timestamptz
) r
WHERE reason IS NOT NULL
GROUP BY workspace_id, reason;

-- What this hour now holds (the task's XCom and the audit row).
SELECT to_char(%(start)s::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS hour,
       (SELECT count(*) FROM analytics.execution_metrics_hourly WHERE hour = %(start)s::timestamptz) AS metric_rows,
       (SELECT count(*) FROM analytics.user_activity_hourly WHERE hour = %(start)s::timestamptz) AS user_rows,
       (SELECT coalesce(sum(row_count), 0)::bigint FROM ops.rejected_runs_hourly WHERE hour = %(start)s::timestamptz) AS bad_rows;
