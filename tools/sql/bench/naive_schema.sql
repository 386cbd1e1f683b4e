-- Tables the naive baseline writes to (the benchmark database only).
CREATE SCHEMA IF NOT EXISTS bench_naive;
CREATE TABLE IF NOT EXISTS bench_naive.execution_metrics_hourly
    (LIKE analytics.execution_metrics_hourly INCLUDING ALL);
CREATE TABLE IF NOT EXISTS bench_naive.execution_metrics_period (
    workspace_id uuid, period_start timestamptz, total_executions bigint,
    successful_executions bigint, failed_executions bigint, avg_runtime double precision,
    p95_runtime double precision, total_credits numeric, active_users bigint,
    updated_at timestamptz, PRIMARY KEY (workspace_id, period_start));
