-- What is left of one day [start, end): raw rows and hourly rollup rows (the cleanup check).
SELECT (SELECT count(*) FROM public.agent_runs
        WHERE started_at >= %(start)s::timestamptz AND started_at < %(end)s::timestamptz) AS raw_rows,
       (SELECT count(*) FROM analytics.execution_metrics_hourly
        WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz)
       + (SELECT count(*) FROM analytics.runtime_sketch_hourly
          WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz)
       + (SELECT count(*) FROM analytics.user_activity_hourly
          WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz)
       + (SELECT count(*) FROM analytics.workspace_activity_hourly
          WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz) AS rollup_rows;
