-- Empty the package's hourly rollup rows of one hour, so a timed run computes it from scratch
-- (as tools/sql/bench/clear_hour.sql does for the package's side).
DELETE FROM analytics.execution_metrics_hourly WHERE hour = %(start)s::timestamptz;
DELETE FROM analytics.runtime_sketch_hourly WHERE hour = %(start)s::timestamptz;
DELETE FROM analytics.user_activity_hourly WHERE hour = %(start)s::timestamptz;
DELETE FROM analytics.workspace_activity_hourly WHERE hour = %(start)s::timestamptz;
DELETE FROM ops.rejected_runs_hourly WHERE hour = %(start)s::timestamptz;
