-- Recompute one ISO week [start, end) (Monday to Monday, UTC) of every weekly table from
-- the daily rows, as one transaction. Callers: agent_warehouse.rollups.periods (weekly runs),
-- after every day of the week is up to date. Re-running it for a week gives the same rows.

SELECT pg_advisory_xact_lock(ops.lock_key('rollup_week'), (%(week)s::date - date '2000-01-03') / 7);

-- A rolled-up week whose days are all past retention is kept as it is (see rollup_day.sql
-- and migration 0012). NULL: recompute the week from its daily rows.
SELECT ops.keep_expired_period('week', %(week)s::date::timestamp AT TIME ZONE 'UTC') AS past_retention;

SET LOCAL work_mem = '128MB';

-- Consume the week's invalidations (the owner's function, migration 0023). They are logged
-- by the daily tables' triggers in the transaction that changes the daily rows read below
-- (migration 0012), so every change behind a deleted entry is visible to the statements that
-- follow; later changes leave their entries for the next run.
SELECT ops.begin_rollup('week', %(week)s::date::timestamp AT TIME ZONE 'UTC') AS invalidations_consumed;

-- The week's runtime sketch: the bucket-wise sum of its seven daily sketches, one workspace
-- at a time (ops.daily_sketches_merged, migration 0027, as for the day).
CREATE TEMP TABLE week_runtime_sketch ON COMMIT DROP AS
WITH days AS (
    SELECT workspace_id, sum(runtime_count)::bigint AS runtime_count,
           sum(runtime_sum ORDER BY day) AS runtime_sum
    FROM analytics.runtime_sketch_daily
    WHERE day >= %(week)s::date AND day < %(week)s::date + 7
    GROUP BY workspace_id
)
SELECT d.workspace_id, d.runtime_count, d.runtime_sum, m.bucket_keys, m.bucket_counts
FROM days d
CROSS JOIN LATERAL ops.daily_sketches_merged(d.workspace_id, %(week)s::date, %(week)s::date + 7) m;

SELECT ops.sync_period('analytics.runtime_sketch_weekly', 'week_runtime_sketch', 'week_start', %(week)s::date,
    ARRAY['workspace_id'], ARRAY['runtime_count', 'runtime_sum', 'bucket_keys', 'bucket_counts']);

CREATE TEMP TABLE week_execution_metrics ON COMMIT DROP AS
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
)
SELECT workspace_id, total_executions, successful_executions, failed_executions, avg_runtime,
       p95_runtime, total_credits
FROM agg;

SELECT ops.sync_period('analytics.execution_metrics_weekly', 'week_execution_metrics', 'week_start', %(week)s::date,
    ARRAY['workspace_id'],
    ARRAY['total_executions', 'successful_executions', 'failed_executions', 'avg_runtime', 'p95_runtime',
          'total_credits']);

-- Weekly active users: distinct users over the week's per-user daily rows (exact).
CREATE TEMP TABLE week_workspace_activity ON COMMIT DROP AS
WITH w AS (
    SELECT workspace_id, count(DISTINCT user_id) AS active_users, sum(runs)::bigint AS runs,
           sum(credits) AS credits
    FROM analytics.user_activity_daily
    WHERE day >= %(week)s::date AND day < %(week)s::date + 7
    GROUP BY workspace_id
)
SELECT workspace_id, active_users, runs, runs::float8 / active_users AS runs_per_user,
       credits AS total_credits, credits / active_users AS credits_per_user
FROM w;

SELECT ops.sync_period('analytics.workspace_activity_weekly', 'week_workspace_activity', 'week_start', %(week)s::date,
    ARRAY['workspace_id'], ARRAY['active_users', 'runs', 'runs_per_user', 'total_credits', 'credits_per_user']);

-- Record the week as rolled up once its rows count every daily one (else logged again).
SELECT ops.finish_rollup('week', %(week)s::date::timestamp AT TIME ZONE 'UTC') AS recorded;

SELECT %(week)s::date::text AS week_start,
       (SELECT count(*) FROM analytics.execution_metrics_weekly WHERE week_start = %(week)s::date) AS metric_rows,
       (SELECT count(*) FROM analytics.workspace_activity_weekly WHERE week_start = %(week)s::date) AS activity_rows;
