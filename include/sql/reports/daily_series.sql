-- The last 30 days up to and including %(day)s, all workspaces together: one row per day.
WITH days AS (
    SELECT d::date AS day
    FROM generate_series(%(first)s::date::timestamp, %(day)s::date::timestamp, interval '1 day') d
), m AS (
    SELECT day, sum(total_executions)::bigint AS executions, sum(successful_executions)::bigint AS successful,
           sum(failed_executions)::bigint AS failed, sum(total_credits) AS credits, count(*) AS workspaces
    FROM analytics.execution_metrics_daily
    WHERE day >= %(first)s::date AND day <= %(day)s::date
    GROUP BY day
), b AS (
    SELECT s.day, x.k, sum(x.c)::bigint AS c
    FROM analytics.runtime_sketch_daily s CROSS JOIN LATERAL unnest(s.bucket_keys, s.bucket_counts) x(k, c)
    WHERE s.day >= %(first)s::date AND s.day <= %(day)s::date
    GROUP BY 1, 2
), p AS (
    SELECT day, ops.sketch_quantile(array_agg(k ORDER BY k), array_agg(c ORDER BY k), 0.95) AS p95
    FROM b GROUP BY day
)
SELECT days.day::text, coalesce(m.executions, 0), coalesce(m.successful, 0), coalesce(m.failed, 0),
       coalesce(m.credits, 0)::text, coalesce(m.workspaces, 0), p.p95
FROM days LEFT JOIN m USING (day) LEFT JOIN p USING (day)
ORDER BY days.day;
