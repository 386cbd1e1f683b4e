-- Per company, signal type and UTC day: counts and 7-/30-day velocities against a trailing
-- baseline, from signals observed in [day - 89, day]. One transaction; a rerun rewrites nothing.
SELECT pg_advisory_xact_lock(ops.lock_key('signals_derive'), (%(day)s::date - date '2000-01-01'));

WITH win AS (
    SELECT company_id, signal_type, (observed_at AT TIME ZONE 'UTC')::date AS d
    FROM signals.raw_signals
    WHERE observed_at >= (%(day)s::date - 89)::timestamp AT TIME ZONE 'UTC'
      AND observed_at <  (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
), agg AS (
    SELECT company_id, signal_type,
           count(*) FILTER (WHERE d = %(day)s::date)                                  AS count_day,
           count(*) FILTER (WHERE d > %(day)s::date - 7)                              AS count_7d,
           count(*) FILTER (WHERE d <= %(day)s::date - 7 AND d > %(day)s::date - 35)  AS base_28d,
           count(*) FILTER (WHERE d > %(day)s::date - 30)                             AS count_30d,
           count(*) FILTER (WHERE d <= %(day)s::date - 30)                            AS base_60d
    FROM win
    GROUP BY company_id, signal_type
), feat AS (
    SELECT company_id, signal_type, count_day, count_7d, count_30d,
           base_28d * 7.0 / 28 AS baseline_7d,
           base_60d * 30.0 / 60 AS baseline_30d
    FROM agg
), vel AS (
    -- Recent count over the count the baseline predicts, the prediction floored at one signal.
    SELECT f.*,
           f.count_7d  / greatest(f.baseline_7d, 1.0)  AS velocity_7d,
           f.count_30d / greatest(f.baseline_30d, 1.0) AS velocity_30d
    FROM feat f
), up AS (
    INSERT INTO signals.company_features_daily AS t
        (company_id, day, signal_type, count_day, count_7d, count_30d, baseline_7d, baseline_30d,
         velocity_7d, velocity_30d, updated_at)
    SELECT company_id, %(day)s::date, signal_type, count_day, count_7d, count_30d, baseline_7d,
           baseline_30d, velocity_7d, velocity_30d, now()
    FROM vel
    ON CONFLICT (day, company_id, signal_type) DO UPDATE SET
        count_day = EXCLUDED.count_day, count_7d = EXCLUDED.count_7d, count_30d = EXCLUDED.count_30d,
        baseline_7d = EXCLUDED.baseline_7d, baseline_30d = EXCLUDED.baseline_30d,
        velocity_7d = EXCLUDED.velocity_7d, velocity_30d = EXCLUDED.velocity_30d,
        updated_at = EXCLUDED.updated_at
    WHERE (t.count_day, t.count_7d, t.count_30d, t.baseline_7d, t.baseline_30d, t.velocity_7d,
           t.velocity_30d)
          IS DISTINCT FROM (EXCLUDED.count_day, EXCLUDED.count_7d, EXCLUDED.count_30d,
                            EXCLUDED.baseline_7d, EXCLUDED.baseline_30d, EXCLUDED.velocity_7d,
                            EXCLUDED.velocity_30d)
    RETURNING 1
), del AS (
    DELETE FROM signals.company_features_daily t
    WHERE t.day = %(day)s::date
      AND NOT EXISTS (SELECT 1 FROM vel WHERE vel.company_id = t.company_id
                                          AND vel.signal_type = t.signal_type)
    RETURNING 1
)
SELECT (SELECT count(DISTINCT company_id) FROM vel) AS companies,
       (SELECT count(*) FROM vel)                   AS feature_rows,
       (SELECT count(*) FROM up)                    AS rows_written,
       (SELECT count(*) FROM del)                   AS rows_deleted;
