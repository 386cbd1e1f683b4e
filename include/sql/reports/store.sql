INSERT INTO analytics.daily_reports AS t (day, report, updated_at)
VALUES (%(day)s::date, %(report)s::jsonb, now())
ON CONFLICT (day) DO UPDATE SET report = EXCLUDED.report, updated_at = EXCLUDED.updated_at
WHERE t.report IS DISTINCT FROM EXCLUDED.report;
