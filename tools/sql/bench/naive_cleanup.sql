-- The naive cleanup of one expired day [start, end): DELETE its raw rows and its hourly
-- rollup rows, then refresh the planner's statistics as the cleanup DAG does. The benchmark
-- runs it in a transaction it rolls back, so the project's side then drops the same day.
DELETE FROM public.agent_runs
WHERE started_at >= %(start)s::timestamptz AND started_at < %(end)s::timestamptz;
DELETE FROM analytics.execution_metrics_hourly
WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz;
DELETE FROM analytics.runtime_sketch_hourly
WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz;
DELETE FROM analytics.user_activity_hourly
WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz;
DELETE FROM analytics.workspace_activity_hourly
WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz;
DELETE FROM ops.rejected_runs_hourly
WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz;
ANALYZE public.agent_runs;
