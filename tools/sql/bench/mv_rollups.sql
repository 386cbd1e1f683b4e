-- Hourly rollup rows for the dashboard views' benchmark, copied from rows the pipeline itself
-- produced: the %(src_hours)s hours rolled up from %(src_start)s on (every workspace, its real
-- sketch buckets and users) are repeated, hour by hour, over the hours before now: execution
-- metrics for %(days)s days, sketches for 31 days (the 30-day view reads 30) and per-user rows
-- for 8 (the 7-day view reads 7). Nothing else in the benchmark database reads these hours.
-- Each hour's rows are written together (ORDER BY k), as the hourly rollup writes them: in
-- source order every row's copies went to consecutive places, so a page held one row of an
-- hour and each hour-range read touched a page a row.

-- The copies skip the hourly tables' statement triggers (the invalidation and rows-written
-- logs: the daily rollups of these days are recomputed next, untimed), where the role may.
DO $$
BEGIN
    SET LOCAL session_replication_role = replica;
EXCEPTION WHEN insufficient_privilege THEN
    NULL;
END $$;
INSERT INTO analytics.execution_metrics_hourly
    (workspace_id, hour, total_executions, successful_executions, failed_executions,
     avg_runtime, p95_runtime, total_credits)
SELECT s.workspace_id, date_trunc('hour', now()) - k * interval '1 hour', s.total_executions,
       s.successful_executions, s.failed_executions, s.avg_runtime, s.p95_runtime, s.total_credits
FROM generate_series(1, %(days)s * 24) k
JOIN analytics.execution_metrics_hourly s
    ON s.hour = %(src_start)s::timestamptz + ((k - 1) %% %(src_hours)s) * interval '1 hour'
ORDER BY k;

INSERT INTO analytics.runtime_sketch_hourly
    (workspace_id, hour, runtime_count, runtime_sum, bucket_keys, bucket_counts)
SELECT s.workspace_id, date_trunc('hour', now()) - k * interval '1 hour', s.runtime_count,
       s.runtime_sum, s.bucket_keys, s.bucket_counts
FROM generate_series(1, least(%(days)s, 31) * 24) k
JOIN analytics.runtime_sketch_hourly s
    ON s.hour = %(src_start)s::timestamptz + ((k - 1) %% %(src_hours)s) * interval '1 hour'
ORDER BY k;

INSERT INTO analytics.user_activity_hourly (workspace_id, hour, user_id, runs, credits)
SELECT s.workspace_id, date_trunc('hour', now()) - k * interval '1 hour', s.user_id, s.runs, s.credits
FROM generate_series(1, least(%(days)s, 8) * 24) k
JOIN analytics.user_activity_hourly s
    ON s.hour = %(src_start)s::timestamptz + ((k - 1) %% %(src_hours)s) * interval '1 hour'
ORDER BY k;

INSERT INTO analytics.workspace_activity_hourly
    (workspace_id, hour, active_users, runs_per_user, total_credits, credits_per_user)
SELECT s.workspace_id, date_trunc('hour', now()) - k * interval '1 hour', s.active_users,
       s.runs_per_user, s.total_credits, s.credits_per_user
FROM generate_series(1, least(%(days)s, 31) * 24) k
JOIN analytics.workspace_activity_hourly s
    ON s.hour = %(src_start)s::timestamptz + ((k - 1) %% %(src_hours)s) * interval '1 hour'
ORDER BY k;

-- What the views read: sketch buckets per workspace-hour and users per workspace, on average.
SELECT (SELECT avg(cardinality(bucket_keys)) FROM analytics.runtime_sketch_hourly
        WHERE hour >= date_trunc('hour', now()) - interval '1 day') AS buckets_per_hour,
       (SELECT avg(n) FROM (SELECT count(DISTINCT user_id) AS n FROM analytics.user_activity_hourly
                            WHERE hour >= date_trunc('hour', now()) - interval '7 days'
                            GROUP BY workspace_id) u) AS users_per_workspace;
