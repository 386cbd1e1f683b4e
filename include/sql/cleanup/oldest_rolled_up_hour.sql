-- The oldest hour with rollup rows before the raw horizon: where the daily check starts.
SELECT min(hour) FROM analytics.execution_metrics_hourly WHERE hour < %(before)s::timestamptz;
