-- The naive hourly job for the outputs the project's hourly step writes, the benchmark's
-- baseline (never used by the DAGs): the seed's statement (one INSERT ... SELECT with an exact
-- PERCENTILE_CONT per workspace, upserted), then a plain per-(workspace, user) activity
-- GROUP BY and a per-workspace credit GROUP BY, each upserted the same way.
INSERT INTO bench_naive.execution_metrics_hourly
    (workspace_id, hour, total_executions, successful_executions, failed_executions,
     avg_runtime, p95_runtime, total_credits, updated_at)
SELECT workspace_id, %(start)s::timestamptz, count(*),
       count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'),
       avg(runtime_seconds), percentile_cont(0.95) WITHIN GROUP (ORDER BY runtime_seconds),
       coalesce(sum(credits_consumed), 0), now()
FROM public.agent_runs
WHERE started_at >= %(start)s::timestamptz AND started_at < %(end)s::timestamptz
GROUP BY workspace_id
ON CONFLICT (workspace_id, hour) DO UPDATE SET
    total_executions = EXCLUDED.total_executions,
    successful_executions = EXCLUDED.successful_executions,
    failed_executions = EXCLUDED.failed_executions,
    avg_runtime = EXCLUDED.avg_runtime,
    p95_runtime = EXCLUDED.p95_runtime,
    total_credits = EXCLUDED.total_credits,
    updated_at = EXCLUDED.updated_at;

INSERT INTO bench_naive.user_activity_hourly (workspace_id, hour, user_id, runs, credits, updated_at)
SELECT workspace_id, %(start)s::timestamptz,
       coalesce(user_id, '00000000-0000-0000-0000-000000000000'::uuid), count(*),
       coalesce(sum(credits_consumed), 0), now()
FROM public.agent_runs
WHERE started_at >= %(start)s::timestamptz AND started_at < %(end)s::timestamptz
GROUP BY 1, 3
ON CONFLICT (workspace_id, hour, user_id) DO UPDATE SET
    runs = EXCLUDED.runs, credits = EXCLUDED.credits, updated_at = EXCLUDED.updated_at;

INSERT INTO bench_naive.workspace_credits_hourly (workspace_id, hour, active_users, total_credits, updated_at)
SELECT workspace_id, %(start)s::timestamptz, count(DISTINCT user_id), coalesce(sum(credits_consumed), 0), now()
FROM public.agent_runs
WHERE started_at >= %(start)s::timestamptz AND started_at < %(end)s::timestamptz
GROUP BY workspace_id
ON CONFLICT (workspace_id, hour) DO UPDATE SET
    active_users = EXCLUDED.active_users, total_credits = EXCLUDED.total_credits,
    updated_at = EXCLUDED.updated_at;
