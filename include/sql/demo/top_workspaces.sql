-- The demo's summary of a day [start, end): busiest workspaces, failure rate, a p95
-- merged from the hourly runtime sketches, and credits.
WITH m AS (
    SELECT workspace_id, sum(total_executions) AS runs, sum(failed_executions) AS failed,
           sum(total_credits) AS credits
    FROM analytics.execution_metrics_hourly
    WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz
    GROUP BY workspace_id
), b AS (
    SELECT s.workspace_id, u.k, sum(u.c)::bigint AS c
    FROM analytics.runtime_sketch_hourly s, unnest(s.bucket_keys, s.bucket_counts) AS u(k, c)
    WHERE s.hour >= %(start)s::timestamptz AND s.hour < %(end)s::timestamptz
      AND s.workspace_id IN (SELECT workspace_id FROM m ORDER BY runs DESC LIMIT %(limit)s)
    GROUP BY 1, 2
), p AS (
    SELECT workspace_id, ops.sketch_quantile(array_agg(k ORDER BY k), array_agg(c ORDER BY k), 0.95) AS p95
    FROM b GROUP BY workspace_id
)
SELECT left(m.workspace_id::text, 8) AS workspace, m.runs,
       round(100.0 * m.failed / m.runs, 1) AS failure_pct,
       round(p.p95::numeric, 1) AS p95_runtime_s,
       round(m.credits, 2) AS credits
FROM m LEFT JOIN p USING (workspace_id)
ORDER BY m.runs DESC
LIMIT %(limit)s;
