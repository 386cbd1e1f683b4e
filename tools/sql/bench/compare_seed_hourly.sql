-- The seed statement's output (execution metrics only) against the project's, hour [start, end).
SELECT 'execution_metrics_hourly', count(p.workspace_id), count(n.workspace_id),
       count(*) FILTER (WHERE NOT (
           p.total_executions IS NOT DISTINCT FROM n.total_executions
           AND p.successful_executions IS NOT DISTINCT FROM n.successful_executions
           AND p.failed_executions IS NOT DISTINCT FROM n.failed_executions
           AND p.total_credits IS NOT DISTINCT FROM n.total_credits
           AND coalesce(abs(p.p95_runtime - n.p95_runtime) <= 1e-9 * abs(n.p95_runtime) + 1e-12,
                        p.p95_runtime IS NULL AND n.p95_runtime IS NULL))
       IS NOT FALSE)
FROM (SELECT * FROM analytics.execution_metrics_hourly
      WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz) p
FULL JOIN (SELECT * FROM bench_naive.execution_metrics_hourly
           WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz) n
    ON p.workspace_id = n.workspace_id AND p.hour = n.hour;
