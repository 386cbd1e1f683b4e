-- Flag the workspace-hours of [start, start + 1h) whose failure rate or p95 runtime departs
-- from the workspace's own baseline: the same hour of day on each of the 7 days before,
-- read from the hourly rollups (analytics.execution_metrics_hourly and the runtime sketches
-- of analytics.runtime_sketch_hourly). Hours below %(min_runs)s runs, now or in the baseline,
-- are ignored. Both statistics are one-sided two-proportion z-scores, continuity-corrected:
-- the share of the hour's runs with some property against the share over the baseline's
-- runs, with the pooled variance (so a baseline of few runs, itself uncertain, asks more):
--   failure_rate: failed runs; flagged at z >= %(failure_z)s and a rate at least
--                 %(min_rate_increase)s above the baseline's;
--   p95_runtime:  runs slower than the baseline p95 (the median of the baseline hours'
--                 p95s), counted from the sketches' buckets above it; flagged at
--                 z >= %(p95_z)s and a p95 at least %(min_p95_ratio)s times the baseline p95.
-- Why (checks/anomalies.py): counts have a known noise, and one huge run moves a count by one
-- where it can move a p95 of few runs several-fold.
-- Rewrites the hour's rows in one transaction, keeping notified_at of rows still flagged;
-- %(dag_id)s and %(run_id)s name the Airflow run that found them (NULL outside Airflow).

CREATE TEMP TABLE anomaly_now ON COMMIT DROP AS
SELECT m.workspace_id, m.total_executions AS n, m.failed_executions AS f, m.p95_runtime,
       s.bucket_keys, s.bucket_counts, s.runtime_count
FROM analytics.execution_metrics_hourly m
LEFT JOIN analytics.runtime_sketch_hourly s ON s.workspace_id = m.workspace_id AND s.hour = m.hour
WHERE m.hour = %(start)s::timestamptz AND m.total_executions >= %(min_runs)s;

CREATE TEMP TABLE anomaly_base ON COMMIT DROP AS
SELECT m.workspace_id, m.hour, m.total_executions AS n, m.failed_executions AS f, m.p95_runtime,
       s.bucket_keys, s.bucket_counts, s.runtime_count
FROM analytics.execution_metrics_hourly m
LEFT JOIN analytics.runtime_sketch_hourly s ON s.workspace_id = m.workspace_id AND s.hour = m.hour
WHERE m.hour IN (SELECT %(start)s::timestamptz - d * interval '1 day' FROM generate_series(1, 7) d)
  AND m.total_executions >= %(min_runs)s
  AND m.workspace_id IN (SELECT workspace_id FROM anomaly_now);

CREATE TEMP TABLE anomaly_flagged ON COMMIT DROP AS
WITH pooled AS (
    SELECT workspace_id, count(*) AS days, sum(n) AS n, sum(f) AS f, count(p95_runtime) AS p95_days,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY p95_runtime) AS base_p95
    FROM anomaly_base
    GROUP BY workspace_id
), slow_base AS (
    -- baseline runs in buckets above the baseline p95's bucket (its own bucket is not counted:
    -- the count is exact to the bucket, 0.9%%, and errs on the side of fewer)
    SELECT b.workspace_id, sum(b.runtime_count) AS m,
           sum((SELECT coalesce(sum(u.c), 0) FROM unnest(b.bucket_keys, b.bucket_counts) u(k, c)
                WHERE u.k > ops.runtime_bucket(p.base_p95))) AS x
    FROM anomaly_base b
    JOIN pooled p ON p.workspace_id = b.workspace_id
    WHERE b.runtime_count IS NOT NULL AND p.base_p95 IS NOT NULL
    GROUP BY b.workspace_id
), counted AS (
    SELECT c.workspace_id, c.n, c.f, c.p95_runtime, c.runtime_count AS m, p.days, p.n AS base_n, p.f AS base_f,
           p.p95_days, p.base_p95, sb.m AS base_m, sb.x AS base_x,
           (SELECT coalesce(sum(u.c), 0) FROM unnest(c.bucket_keys, c.bucket_counts) u(k, c)
            WHERE u.k > ops.runtime_bucket(p.base_p95)) AS x
    FROM anomaly_now c
    JOIN pooled p ON p.workspace_id = c.workspace_id
    LEFT JOIN slow_base sb ON sb.workspace_id = c.workspace_id
    WHERE p.days >= %(min_baseline_days)s
), scored AS (
    -- the pooled rates the two-proportion test's variance uses (smoothed: never 0 or 1)
    SELECT t.*, (t.f + t.base_f + 1.0) / (t.n + t.base_n + 2.0) AS pf,
           (t.x + t.base_x + 1.0) / (t.m + t.base_m + 2.0) AS px
    FROM counted t
)
SELECT workspace_id, 'failure_rate' AS metric, f::float8 / n AS value, base_f::float8 / base_n AS baseline,
       (f::float8 / n - base_f::float8 / base_n - 0.5 / n)
       / sqrt(pf * (1 - pf) * (1.0 / n + 1.0 / base_n)) AS score,
       n AS runs, base_n AS baseline_runs, days AS baseline_days
FROM scored
WHERE f::float8 / n - base_f::float8 / base_n >= %(min_rate_increase)s
  AND (f::float8 / n - base_f::float8 / base_n - 0.5 / n) / sqrt(pf * (1 - pf) * (1.0 / n + 1.0 / base_n))
      >= %(failure_z)s
UNION ALL
SELECT workspace_id, 'p95_runtime', p95_runtime, base_p95,
       (x::float8 / m - base_x::float8 / base_m - 0.5 / m) / sqrt(px * (1 - px) * (1.0 / m + 1.0 / base_m)),
       n, base_n, days
FROM scored
WHERE p95_runtime IS NOT NULL AND m > 0 AND base_m > 0 AND p95_days >= %(min_baseline_days)s
  AND p95_runtime >= %(min_p95_ratio)s * base_p95
  AND (x::float8 / m - base_x::float8 / base_m - 0.5 / m) / sqrt(px * (1 - px) * (1.0 / m + 1.0 / base_m))
      >= %(p95_z)s;

DELETE FROM analytics.workspace_anomalies_hourly a
WHERE a.hour = %(start)s::timestamptz
  AND NOT EXISTS (SELECT 1 FROM anomaly_flagged f WHERE f.workspace_id = a.workspace_id AND f.metric = a.metric);

INSERT INTO analytics.workspace_anomalies_hourly AS a
    (workspace_id, hour, metric, value, baseline, score, runs, baseline_runs, baseline_days, dag_id, run_id)
SELECT workspace_id, %(start)s::timestamptz, metric, value, baseline, score, runs, baseline_runs, baseline_days,
       %(dag_id)s, %(run_id)s
FROM anomaly_flagged
ON CONFLICT (workspace_id, hour, metric) DO UPDATE
SET value = EXCLUDED.value, baseline = EXCLUDED.baseline, score = EXCLUDED.score, runs = EXCLUDED.runs,
    baseline_runs = EXCLUDED.baseline_runs, baseline_days = EXCLUDED.baseline_days,
    detected_at = EXCLUDED.detected_at, dag_id = EXCLUDED.dag_id, run_id = EXCLUDED.run_id;

SELECT count(*) AS flagged, (SELECT count(*) FROM anomaly_now) AS scored FROM anomaly_flagged
