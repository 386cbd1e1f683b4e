-- Empty the package's hourly rows of the window (before a catch-up, untimed).
DELETE FROM analytics.execution_metrics_hourly WHERE hour >= %(first_hour)s AND hour < %(end_hour)s;
DELETE FROM analytics.runtime_sketch_hourly WHERE hour >= %(first_hour)s AND hour < %(end_hour)s;
DELETE FROM analytics.user_activity_hourly WHERE hour >= %(first_hour)s AND hour < %(end_hour)s;
DELETE FROM analytics.workspace_activity_hourly WHERE hour >= %(first_hour)s AND hour < %(end_hour)s;
DELETE FROM ops.rejected_runs_hourly WHERE hour >= %(first_hour)s AND hour < %(end_hour)s;
