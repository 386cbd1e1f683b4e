-- Hourly rollup rows for the dashboard views' benchmark: %(workspaces)s workspaces, every hour
-- of the %(days)s days before now (the views read the last 30 and 7 days), with 16-bucket
-- sketches and %(users)s users per workspace for the last 7 days. Written straight into the
-- rollup tables of the benchmark database; nothing else reads these hours.
INSERT INTO analytics.execution_metrics_hourly
    (workspace_id, hour, total_executions, successful_executions, failed_executions,
     avg_runtime, p95_runtime, total_credits)
SELECT md5('mv-' || w)::uuid, h, 100 + w %% 50, 90, 5, 12.5, 40.0, 1.25
FROM generate_series(1, %(workspaces)s) w,
     generate_series(date_trunc('hour', now()) - %(days)s * interval '1 day',
                     date_trunc('hour', now()) - interval '1 hour', interval '1 hour') h;

INSERT INTO analytics.runtime_sketch_hourly
    (workspace_id, hour, runtime_count, runtime_sum, bucket_keys, bucket_counts)
SELECT md5('mv-' || w)::uuid, h, 96, 1200.0,
       ARRAY(SELECT 100 + 4 * i + w %% 3 FROM generate_series(1, 16) i),
       array_fill(6::bigint, ARRAY[16])
FROM generate_series(1, %(workspaces)s) w,
     generate_series(date_trunc('hour', now()) - 30 * interval '1 day',
                     date_trunc('hour', now()) - interval '1 hour', interval '1 hour') h;

INSERT INTO analytics.user_activity_hourly (workspace_id, hour, user_id, runs, credits)
SELECT md5('mv-' || w)::uuid, h, md5('mv-user-' || w || '-' || u)::uuid, 10, 0.1
FROM generate_series(1, %(workspaces)s) w,
     generate_series(1, %(users)s) u,
     generate_series(date_trunc('hour', now()) - 7 * interval '1 day',
                     date_trunc('hour', now()) - interval '1 hour', interval '1 hour') h;
