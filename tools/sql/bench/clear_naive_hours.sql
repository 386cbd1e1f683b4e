-- Empty the naive side's hourly rows of [start, end) (untimed), so each timed naive run
-- computes its hours from scratch: inserts, never updates of rows left by the run before.
DELETE FROM bench_naive.execution_metrics_hourly
WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz;
DELETE FROM bench_naive.user_activity_hourly
WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz;
DELETE FROM bench_naive.workspace_credits_hourly
WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz;
