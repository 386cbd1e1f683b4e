-- For a rollup task's closing log line, over the period [start, end) of the grain's metrics
-- table: the workspaces with a row, those whose row was last written before %(since)s (left
-- unchanged by the run that started then; NULL without a since), and the raw runs rejected
-- in the period (ops.rejected_runs_hourly). Lookups on the tables' keys: milliseconds.
WITH m AS (
    SELECT updated_at FROM analytics.execution_metrics_hourly
    WHERE %(grain)s = 'hour' AND hour = %(start)s::timestamptz
    UNION ALL
    SELECT updated_at FROM analytics.execution_metrics_daily
    WHERE %(grain)s = 'day' AND day = (%(start)s::timestamptz AT TIME ZONE 'UTC')::date
    UNION ALL
    SELECT updated_at FROM analytics.execution_metrics_weekly
    WHERE %(grain)s = 'week' AND week_start = (%(start)s::timestamptz AT TIME ZONE 'UTC')::date
)
SELECT (SELECT count(*) FROM m) AS workspaces,
       (SELECT count(*) FILTER (WHERE updated_at < %(since)s::timestamptz) FROM m) AS unchanged,
       (SELECT coalesce(sum(row_count), 0)::bigint FROM ops.rejected_runs_hourly
        WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz) AS rejected;
