-- The seed's hourly job, as a cron + SQL setup runs it: one INSERT ... SELECT with an exact
-- PERCENTILE_CONT per workspace, upserted. The benchmark's baseline, never used by the DAGs.
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
