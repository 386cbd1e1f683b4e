-- The project's weekly rows for the period starting %(start)s against the naive exact
-- recomputation from raw rows: counts, credits and active users equal, the mean to 1e-9
-- relative, the p95 within the contract's 1% relative error (docs/contract.md).
SELECT 'execution_metrics_weekly', count(p.workspace_id), count(n.workspace_id),
       count(*) FILTER (WHERE NOT (
           p.total_executions IS NOT DISTINCT FROM n.total_executions
           AND p.successful_executions IS NOT DISTINCT FROM n.successful_executions
           AND p.failed_executions IS NOT DISTINCT FROM n.failed_executions
           AND p.total_credits IS NOT DISTINCT FROM n.total_credits
           AND a.active_users IS NOT DISTINCT FROM n.active_users
           AND coalesce(abs(p.avg_runtime - n.avg_runtime) <= 1e-9 * abs(n.avg_runtime) + 1e-12,
                        p.avg_runtime IS NULL AND n.avg_runtime IS NULL)
           AND coalesce(abs(p.p95_runtime - n.p95_runtime) <= 0.01 * abs(n.p95_runtime) + 1e-12,
                        p.p95_runtime IS NULL AND n.p95_runtime IS NULL))
       IS NOT FALSE),
       max(abs(p.p95_runtime - n.p95_runtime) / nullif(abs(n.p95_runtime), 0)) AS p95_worst_rel_error
FROM (SELECT * FROM analytics.execution_metrics_weekly WHERE week_start = %(start)s::date) p
LEFT JOIN analytics.workspace_activity_weekly a ON a.workspace_id = p.workspace_id AND a.week_start = p.week_start
FULL JOIN (SELECT * FROM bench_naive.execution_metrics_period
           WHERE period_start = %(start)s::timestamptz) n
    ON p.workspace_id = n.workspace_id;
