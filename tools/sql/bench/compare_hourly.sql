-- Where both sides of an hourly pair wrote the same output for the hours [start, end):
-- one row per output, with the rows each side has and how many differ (a row on one side
-- only counts as a difference). Counts and credits must be equal; the mean and the exact
-- p95 equal to 1e-9 relative (float sums in another order).
WITH metrics AS (
    SELECT p.workspace_id AS p_ws, n.workspace_id AS n_ws,
           p.total_executions IS DISTINCT FROM n.total_executions
           OR p.successful_executions IS DISTINCT FROM n.successful_executions
           OR p.failed_executions IS DISTINCT FROM n.failed_executions
           OR p.total_credits IS DISTINCT FROM n.total_credits
           -- a workspace whose runs have no runtime has no mean and no p95 on either side:
           -- equal (a bare abs() comparison would be NULL there, counted as a difference)
           OR NOT coalesce(abs(p.avg_runtime - n.avg_runtime) <= 1e-9 * abs(n.avg_runtime) + 1e-12,
                           p.avg_runtime IS NULL AND n.avg_runtime IS NULL)
           OR NOT coalesce(abs(p.p95_runtime - n.p95_runtime) <= 1e-9 * abs(n.p95_runtime) + 1e-12,
                           p.p95_runtime IS NULL AND n.p95_runtime IS NULL) AS differs
    FROM (SELECT * FROM analytics.execution_metrics_hourly
          WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz) p
    FULL JOIN (SELECT * FROM bench_naive.execution_metrics_hourly
               WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz) n
        ON p.workspace_id = n.workspace_id AND p.hour = n.hour
), users AS (
    SELECT p.workspace_id AS p_ws, n.workspace_id AS n_ws,
           p.runs IS DISTINCT FROM n.runs OR p.credits IS DISTINCT FROM n.credits AS differs
    FROM (SELECT * FROM analytics.user_activity_hourly
          WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz) p
    FULL JOIN (SELECT * FROM bench_naive.user_activity_hourly
               WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz) n
        ON p.workspace_id = n.workspace_id AND p.hour = n.hour AND p.user_id = n.user_id
), credits AS (
    SELECT p.workspace_id AS p_ws, n.workspace_id AS n_ws,
           p.active_users IS DISTINCT FROM n.active_users
           OR p.total_credits IS DISTINCT FROM n.total_credits AS differs
    FROM (SELECT * FROM analytics.workspace_activity_hourly
          WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz) p
    FULL JOIN (SELECT * FROM bench_naive.workspace_credits_hourly
               WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz) n
        ON p.workspace_id = n.workspace_id AND p.hour = n.hour
)
SELECT 'execution_metrics_hourly', count(p_ws), count(n_ws), count(*) FILTER (WHERE differs IS NOT FALSE)
FROM metrics
UNION ALL
SELECT 'user_activity_hourly', count(p_ws), count(n_ws), count(*) FILTER (WHERE differs IS NOT FALSE)
FROM users
UNION ALL
SELECT 'workspace_activity_hourly', count(p_ws), count(n_ws), count(*) FILTER (WHERE differs IS NOT FALSE)
FROM credits;
