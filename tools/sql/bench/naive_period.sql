-- Daily or weekly metrics computed exactly from raw rows over [start, end): the baseline
-- for the project's rollups from partials.
INSERT INTO bench_naive.execution_metrics_period
    (workspace_id, period_start, total_executions, successful_executions, failed_executions,
     avg_runtime, p95_runtime, total_credits, active_users, updated_at)
SELECT workspace_id, %(start)s::timestamptz, count(*),
       count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'),
       avg(runtime_seconds), percentile_cont(0.95) WITHIN GROUP (ORDER BY runtime_seconds),
       coalesce(sum(credits_consumed), 0), count(DISTINCT user_id), now()
FROM public.agent_runs
WHERE started_at >= %(start)s::timestamptz AND started_at < %(end)s::timestamptz
GROUP BY workspace_id
ON CONFLICT (workspace_id, period_start) DO UPDATE SET
    total_executions = EXCLUDED.total_executions,
    successful_executions = EXCLUDED.successful_executions,
    failed_executions = EXCLUDED.failed_executions,
    avg_runtime = EXCLUDED.avg_runtime,
    p95_runtime = EXCLUDED.p95_runtime,
    total_credits = EXCLUDED.total_credits,
    active_users = EXCLUDED.active_users,
    updated_at = EXCLUDED.updated_at;
