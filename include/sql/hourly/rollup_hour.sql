-- Recompute one clock hour [start, end) of every hourly table, as one transaction.
-- Callers: the hourly_rollup DAG's rollup_hour task (its own hour) and the repair of
-- hours named in the invalidation log. Re-running it for an hour gives the same rows.

-- One writer per hour at a time: a second run of the same hour waits, then recomputes.
SELECT pg_advisory_xact_lock(ops.lock_key('rollup_hour'), (extract(EPOCH FROM %(start)s::timestamptz) / 3600)::integer);

-- An hour whose raw rows were dropped (retention) is kept as it is: the guard returns why
-- and sets a transaction-local flag on which every write below is skipped (triggers of
-- migration 0012), so the rest of this script changes nothing. NULL: roll the hour up.
SELECT ops.keep_expired_period('hour', %(start)s::timestamptz) AS past_retention;

-- The aggregations below hash and sort in memory, even for a busy hour.
SET LOCAL work_mem = '256MB';

-- The temporary tables below (about 17 MB at 200,000 runs, pass 1's alone 9 MB) stay in the
-- session's local buffers instead of being written out and read back (the default 8 MB held
-- less than pass 1's table). PostgreSQL allows this only before the session's first use of a
-- temporary table: a session that used one already keeps its buffers (same result, slower).
DO $$
BEGIN
    SET LOCAL temp_buffers = '64MB';
EXCEPTION WHEN invalid_parameter_value THEN
    NULL;
END $$;

-- Consume the hour's invalidations (the owner's function, migration 0023). Only entries
-- committed before this statement are removed, and everything they describe is visible to
-- the statements below; changes that commit later leave their entries for the next run. The
-- transaction cannot commit unless ops.finish_rollup closes the hour at the end.
SELECT ops.begin_rollup('hour', %(start)s::timestamptz) AS invalidations_consumed;

-- Two passes over the hour's raw rows, at the two grains every output derives from.
-- Pass 1, per workspace, defect and runtime bucket: the sketch's bucket counts, the rejected
-- rows, and the runtimes of each bucket (vals), from which the exact p95 is read below
-- without a third scan. It asks ops.agent_run_defect once per row (bad rows stay, as groups
-- of their own). Both passes may use parallel workers (INSERT ... SELECT never does): their
-- aggregates give the same result whatever order rows arrive in (vals is read sorted).
-- Pass 1 has about as many groups as rows, so the planner sees no gain in parallel partial
-- aggregation; with the tuple transfer priced at 0 the workers still scan and compute the
-- per-row defect and bucket (most of the work) while the leader hashes.
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;

CREATE TEMP TABLE hour_buckets ON COMMIT DROP AS
SELECT workspace_id,
       ops.agent_run_defect(status, runtime_seconds, credits_consumed) AS defect,
       CASE WHEN runtime_seconds >= 0 AND runtime_seconds < 'Infinity'::float8
            THEN ops.runtime_bucket(runtime_seconds) END AS k,
       count(*)::integer AS n,  -- integer: window and array sums stay in fast integer arithmetic
       array_agg(runtime_seconds) AS vals  -- last: the window below does not read it
FROM public.agent_runs
-- clamped to the supported range (migration 0022): an hour outside it reads no row
WHERE started_at >= greatest(%(start)s::timestamptz, ops.agent_runs_supported_from())
  AND started_at < least(%(end)s::timestamptz, ops.agent_runs_supported_until())
GROUP BY 1, 2, 3;

SET LOCAL parallel_setup_cost TO DEFAULT;
SET LOCAL parallel_tuple_cost TO DEFAULT;

-- Pass 2, per workspace and user (no user: the nil UUID), usable rows only: runs, statuses,
-- credits and runtime sums. A float sum depends on the order its terms are added in, and a
-- parallel pass adds them in a different order on every run; so each runtime is split into
-- a whole number of 2^-24 s, summed exactly as an integer, and a remainder below 2^-25 s whose
-- float sum cannot change the result: the sums are exact and the same on every run.
CREATE TEMP TABLE hour_users ON COMMIT DROP AS
SELECT workspace_id,
       coalesce(user_id, '00000000-0000-0000-0000-000000000000'::uuid) AS user_id,
       count(*) AS runs,
       coalesce(sum(credits_consumed), 0) AS credits,
       count(*) FILTER (WHERE status = 'completed') AS successful,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       sum(ticks) AS runtime_ticks,
       sum(runtime_seconds - ticks / 16777216.0::float8) AS runtime_rest
FROM (SELECT workspace_id, user_id, status, credits_consumed, runtime_seconds,
             CASE WHEN runtime_seconds >= 274877906944 THEN 0  -- from 2^38 s on, all of it is remainder
                  ELSE trunc(runtime_seconds * 16777216.0::float8)::bigint END AS ticks
      FROM public.agent_runs
      WHERE started_at >= greatest(%(start)s::timestamptz, ops.agent_runs_supported_from())
        AND started_at < least(%(end)s::timestamptz, ops.agent_runs_supported_until())
        -- the same rows as agent_run_defect(...) IS NULL, in a form the planner can
        -- estimate (migration 0019): the workers then aggregate before gathering
        AND ops.agent_run_usable(status, runtime_seconds, credits_consumed)) r
GROUP BY 1, 2;

-- Per workspace: the runtime sketch (mergeable partials for the daily and weekly rollups),
-- and what locates the exact p95 without sorting every runtime. PERCENTILE_CONT(0.95)
-- interpolates between the values of ranks floor(pos) and ceil(pos), pos = 0.95 (n - 1); the
-- cumulative bucket counts say which bucket holds each: kept here as the t_* arrays (one or
-- two buckets: key, ranks below it, count, and where its row of hour_buckets is, so its
-- runtimes are fetched without sorting them here or joining the whole table again). One
-- sort serves the sketch and these.
CREATE TEMP TABLE hour_sketch ON COMMIT DROP AS
WITH cum AS (
    SELECT workspace_id, k, n, ctid AS ref,
           sum(n) OVER w - n AS below,
           0.95::float8 * (sum(n) OVER (PARTITION BY workspace_id) - 1) AS pos
    FROM hour_buckets
    WHERE defect IS NULL AND k IS NOT NULL
    WINDOW w AS (PARTITION BY workspace_id ORDER BY k ROWS UNBOUNDED PRECEDING)
)
SELECT workspace_id,
       sum(n)::bigint AS runtime_count,
       array_agg(k ORDER BY k) AS bucket_keys,
       array_agg(n::bigint ORDER BY k) AS bucket_counts,
       min(pos) AS pos,
       array_agg(k ORDER BY k) FILTER (WHERE floor(pos) < below + n AND ceil(pos) >= below) AS t_k,
       array_agg(below ORDER BY k) FILTER (WHERE floor(pos) < below + n AND ceil(pos) >= below) AS t_below,
       array_agg(n ORDER BY k) FILTER (WHERE floor(pos) < below + n AND ceil(pos) >= below) AS t_n,
       array_agg(ref ORDER BY k) FILTER (WHERE floor(pos) < below + n AND ceil(pos) >= below) AS t_ref
FROM cum
GROUP BY workspace_id;

-- Per workspace, in one table: counts, credits and activity from the per-user groups, the
-- sketch and the exact p95: the runtimes of the one or two buckets that hold ranks floor(pos)
-- and ceil(pos), kept by pass 1, sorted and read at the rank (no other runtime is sorted, and
-- the raw rows are not read again), interpolated as PERCENTILE_CONT does:
-- lo + (pos - floor(pos)) * (hi - lo).
CREATE TEMP TABLE hour_metrics ON COMMIT DROP AS
WITH wanted AS (
    SELECT s.workspace_id, s.pos, t.ref, t.below, r.rnk
    FROM hour_sketch s
    CROSS JOIN LATERAL unnest(s.t_ref, s.t_below, s.t_n) t(ref, below, n)
    CROSS JOIN LATERAL (VALUES (floor(s.pos)::bigint), (ceil(s.pos)::bigint)) r(rnk)
    WHERE r.rnk >= t.below AND r.rnk < t.below + t.n
), val AS MATERIALIZED (  -- each rank's value read once
    SELECT w.workspace_id, w.pos, w.rnk,
           (SELECT v FROM hour_buckets b CROSS JOIN LATERAL unnest(b.vals) v
            WHERE b.ctid = w.ref  -- a TID scan: the one row
            ORDER BY v LIMIT 1 OFFSET w.rnk - w.below) AS v
    FROM wanted w
), p95 AS (
    SELECT workspace_id,
           min(v) FILTER (WHERE rnk = floor(pos))
           + (min(pos) - floor(min(pos)))
             * (min(v) FILTER (WHERE rnk = ceil(pos)) - min(v) FILTER (WHERE rnk = floor(pos))) AS p95_runtime
    FROM val
    GROUP BY workspace_id
), w AS (
    SELECT workspace_id,
           sum(runs)::bigint       AS total_executions,
           sum(successful)::bigint AS successful_executions,
           sum(failed)::bigint     AS failed_executions,
           sum(credits)            AS total_credits,
           count(*)                AS active_users,
           (sum(runtime_ticks)::float8 / 16777216.0::float8
            + sum(runtime_rest ORDER BY user_id)) AS runtime_sum  -- null when no runtimes
    FROM hour_users
    GROUP BY workspace_id
)
SELECT w.workspace_id, w.total_executions, w.successful_executions, w.failed_executions,
       w.runtime_sum / s.runtime_count AS avg_runtime, p.p95_runtime, w.total_credits,
       s.runtime_count, w.runtime_sum, s.bucket_keys, s.bucket_counts,
       w.active_users, w.total_executions::float8 / w.active_users AS runs_per_user,
       w.total_credits / w.active_users AS credits_per_user
FROM w
LEFT JOIN hour_sketch s USING (workspace_id)
LEFT JOIN p95 p USING (workspace_id);

-- Write every table of the hour through ops.sync_period (migration 0016): rows that vanished
-- are deleted, only changed rows are written (into an hour with no row yet, a plain insert:
-- migration 0030); the rows written are kept for the task's result.
CREATE TEMP TABLE hour_written (tbl text PRIMARY KEY, n bigint NOT NULL) ON COMMIT DROP;

INSERT INTO hour_written
SELECT 'execution_metrics_hourly', ops.sync_period(
    'analytics.execution_metrics_hourly', 'hour_metrics', 'hour', %(start)s::timestamptz,
    ARRAY['workspace_id'],
    ARRAY['total_executions', 'successful_executions', 'failed_executions', 'avg_runtime',
          'p95_runtime', 'total_credits']);

CREATE TEMP TABLE hour_sketches ON COMMIT DROP AS
SELECT workspace_id, runtime_count, runtime_sum, bucket_keys, bucket_counts
FROM hour_metrics
WHERE runtime_count IS NOT NULL;

INSERT INTO hour_written
SELECT 'runtime_sketch_hourly', ops.sync_period(
    'analytics.runtime_sketch_hourly', 'hour_sketches', 'hour', %(start)s::timestamptz,
    ARRAY['workspace_id'], ARRAY['runtime_count', 'runtime_sum', 'bucket_keys', 'bucket_counts']);

INSERT INTO hour_written
SELECT 'user_activity_hourly', ops.sync_period(
    'analytics.user_activity_hourly', 'hour_users', 'hour', %(start)s::timestamptz,
    ARRAY['workspace_id', 'user_id'], ARRAY['runs', 'credits']);

INSERT INTO hour_written
SELECT 'workspace_activity_hourly', ops.sync_period(
    'analytics.workspace_activity_hourly', 'hour_metrics', 'hour', %(start)s::timestamptz,
    ARRAY['workspace_id'], ARRAY['active_users', 'runs_per_user', 'total_credits', 'credits_per_user']);

-- Bad rows: counted per workspace and reason, left out of every metric above.
CREATE TEMP TABLE hour_rejected ON COMMIT DROP AS
SELECT workspace_id, defect AS reason, sum(n) AS row_count
FROM hour_buckets
WHERE defect IS NOT NULL
GROUP BY 1, 2;

INSERT INTO hour_written
SELECT 'rejected_runs_hourly', ops.sync_period(
    'ops.rejected_runs_hourly', 'hour_rejected', 'hour', %(start)s::timestamptz,
    ARRAY['workspace_id', 'reason'], ARRAY['row_count']);

-- Record that the hour has been rolled up (ops.hours_rolled_up: a daily run rolls up the
-- hours of its day missing there), once the owner's function has checked that the rows
-- written count every raw row of the hour; otherwise the hour is logged for the next run.
SELECT ops.finish_rollup('hour', %(start)s::timestamptz) AS recorded;

-- The task's result: rows WRITTEN (inserted, updated or deleted) in execution_metrics_hourly
-- and user_activity_hourly, so an unchanged rerun reports 0; the hour's bad raw rows; and every
-- rollup row this transaction wrote (ops.rows_written(), migration 0014: the audit row's rows_written).
SELECT to_char(%(start)s::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS hour,
       (SELECT n FROM hour_written WHERE tbl = 'execution_metrics_hourly') AS metric_rows,
       (SELECT n FROM hour_written WHERE tbl = 'user_activity_hourly') AS user_rows,
       (SELECT coalesce(sum(row_count), 0)::bigint FROM hour_rejected) AS bad_rows,
       ops.rows_written() AS rows_written;
