-- Empty the hour's rollup rows (both sides), so each timed run computes the hour from scratch.
DELETE FROM analytics.execution_metrics_hourly WHERE hour = %(start)s::timestamptz;
DELETE FROM analytics.runtime_sketch_hourly WHERE hour = %(start)s::timestamptz;
DELETE FROM analytics.user_activity_hourly WHERE hour = %(start)s::timestamptz;
DELETE FROM analytics.workspace_activity_hourly WHERE hour = %(start)s::timestamptz;
DELETE FROM ops.rejected_runs_hourly WHERE hour = %(start)s::timestamptz;
DELETE FROM bench_naive.execution_metrics_hourly WHERE hour = %(start)s::timestamptz;
DELETE FROM bench_naive.user_activity_hourly WHERE hour = %(start)s::timestamptz;
DELETE FROM bench_naive.workspace_credits_hourly WHERE hour = %(start)s::timestamptz;
