-- Tables the naive baseline writes to (the benchmark database only).
CREATE SCHEMA IF NOT EXISTS bench_naive;
CREATE TABLE IF NOT EXISTS bench_naive.execution_metrics_hourly
    (LIKE analytics.execution_metrics_hourly INCLUDING ALL);
CREATE TABLE IF NOT EXISTS bench_naive.execution_metrics_period (
    workspace_id uuid, period_start timestamptz, total_executions bigint,
    successful_executions bigint, failed_executions bigint, avg_runtime double precision,
    p95_runtime double precision, total_credits numeric, active_users bigint,
    updated_at timestamptz, PRIMARY KEY (workspace_id, period_start));
CREATE TABLE IF NOT EXISTS bench_naive.user_activity_hourly
    (LIKE analytics.user_activity_hourly INCLUDING ALL);
CREATE TABLE IF NOT EXISTS bench_naive.workspace_credits_hourly (
    workspace_id uuid, hour timestamptz, active_users bigint, total_credits numeric,
    updated_at timestamptz, PRIMARY KEY (workspace_id, hour));
