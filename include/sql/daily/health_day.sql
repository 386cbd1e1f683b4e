-- Health score per workspace for one day, from the daily rollups (formula: docs/health.md).
-- One transaction; rerunning a day gives the same rows.

SELECT pg_advisory_xact_lock(ops.lock_key('health_day'), (%(day)s::date - date '2000-01-01'));

WITH today AS (
    SELECT m.workspace_id, m.successful_executions, m.failed_executions, m.p95_runtime,
           m.total_credits, coalesce(a.active_users, 0) AS active_users
    FROM analytics.execution_metrics_daily m
    LEFT JOIN analytics.workspace_activity_daily a ON a.workspace_id = m.workspace_id AND a.day = m.day
    WHERE m.day = %(day)s::date
), baseline AS (
    -- The trailing 7 days before the day, counting only days the workspace had runs.
    SELECT m.workspace_id, count(*)::integer AS days, avg(m.p95_runtime) AS p95,
           avg(m.total_credits)::float8 AS credits, avg(coalesce(a.active_users, 0))::float8 AS users
    FROM analytics.execution_metrics_daily m
    LEFT JOIN analytics.workspace_activity_daily a ON a.workspace_id = m.workspace_id AND a.day = m.day
    WHERE m.day >= %(day)s::date - 7 AND m.day < %(day)s::date
    GROUP BY m.workspace_id
), ratios AS (
    SELECT t.workspace_id,
           coalesce(b.days, 0) AS baseline_days,
           t.successful_executions::float8 / nullif(t.successful_executions + t.failed_executions, 0) AS success_rate,
           CASE WHEN b.days >= 3 THEN t.p95_runtime / nullif(b.p95, 0) END AS p95_ratio,
           CASE WHEN b.days >= 3 THEN t.total_credits::float8 / nullif(b.credits, 0) END AS credit_ratio,
           CASE WHEN b.days >= 3 THEN t.active_users / nullif(b.users, 0) END AS activity_ratio
    FROM today t LEFT JOIN baseline b USING (workspace_id)
), points AS (
    SELECT r.*,
           -- No ratio (no baseline, or nothing to compare): full points. greatest/least
           -- skip NULLs, hence the CASEs.
           40 * coalesce(success_rate, 1)                                                AS success_points,
           25 * CASE WHEN p95_ratio IS NULL THEN 1 ELSE least(greatest(2 - p95_ratio, 0), 1) END AS latency_points,
           20 * CASE WHEN credit_ratio IS NULL THEN 1
                     ELSE least(greatest((3 - credit_ratio) / 1.5, 0), 1) END              AS credit_points,
           15 * CASE WHEN activity_ratio IS NULL THEN 1 ELSE least(greatest(activity_ratio, 0), 1) END
                                                                                         AS activity_points
    FROM ratios r
), scored AS (
    SELECT p.*, round((success_points + latency_points + credit_points + activity_points)::numeric, 1)::float8 AS score
    FROM points p
), gone AS (
    DELETE FROM analytics.workspace_health_daily h
    WHERE h.day = %(day)s::date AND NOT EXISTS (SELECT 1 FROM scored s WHERE s.workspace_id = h.workspace_id)
)
INSERT INTO analytics.workspace_health_daily AS t
    (workspace_id, day, score, band, success_rate, p95_ratio, credit_ratio, activity_ratio,
     success_points, latency_points, credit_points, activity_points, baseline_days, updated_at)
SELECT workspace_id, %(day)s::date, score,
       CASE WHEN score >= 80 THEN 'healthy' WHEN score >= 60 THEN 'watch' ELSE 'at_risk' END,
       success_rate, p95_ratio, credit_ratio, activity_ratio,
       success_points, latency_points, credit_points, activity_points, baseline_days, now()
FROM scored
ON CONFLICT (workspace_id, day) DO UPDATE SET
    score = EXCLUDED.score, band = EXCLUDED.band, success_rate = EXCLUDED.success_rate,
    p95_ratio = EXCLUDED.p95_ratio, credit_ratio = EXCLUDED.credit_ratio,
    activity_ratio = EXCLUDED.activity_ratio, success_points = EXCLUDED.success_points,
    latency_points = EXCLUDED.latency_points, credit_points = EXCLUDED.credit_points,
    activity_points = EXCLUDED.activity_points, baseline_days = EXCLUDED.baseline_days,
    updated_at = EXCLUDED.updated_at
WHERE (t.score, t.band, t.success_rate, t.p95_ratio, t.credit_ratio, t.activity_ratio,
       t.success_points, t.latency_points, t.credit_points, t.activity_points, t.baseline_days)
      IS DISTINCT FROM
      (EXCLUDED.score, EXCLUDED.band, EXCLUDED.success_rate, EXCLUDED.p95_ratio, EXCLUDED.credit_ratio,
       EXCLUDED.activity_ratio, EXCLUDED.success_points, EXCLUDED.latency_points,
       EXCLUDED.credit_points, EXCLUDED.activity_points, EXCLUDED.baseline_days);

SELECT count(*) FROM analytics.workspace_health_daily WHERE day = %(day)s::date;
