-- Provider outcomes per ingest window instead of per day: the hourly ingest at 11:00 no
-- longer overwrites the 10:00 failure of the same provider and day, so a failure stays
-- visible. signals.provider_days gives the day at a glance (its worst window).
ALTER TABLE signals.provider_runs ADD COLUMN IF NOT EXISTS window_start timestamptz;
ALTER TABLE signals.provider_runs ADD COLUMN IF NOT EXISTS window_end timestamptz;
-- Rows written before this migration covered a whole UTC day.
UPDATE signals.provider_runs
SET window_start = day::timestamp AT TIME ZONE 'UTC',
    window_end = (day + 1)::timestamp AT TIME ZONE 'UTC'
WHERE window_start IS NULL;
ALTER TABLE signals.provider_runs
    ALTER COLUMN window_start SET NOT NULL,
    ALTER COLUMN window_end SET NOT NULL,
    DROP CONSTRAINT provider_runs_pkey,
    ADD PRIMARY KEY (provider, window_start, window_end);
CREATE INDEX IF NOT EXISTS provider_runs_day ON signals.provider_runs (day, provider);

CREATE OR REPLACE VIEW signals.provider_days AS
SELECT
    provider,
    day,
    (array_agg(status ORDER BY CASE status
        WHEN 'failed' THEN 0 WHEN 'timeout' THEN 1 WHEN 'partial' THEN 2 ELSE 3 END))[1] AS status,
    sum(fetched) AS fetched,
    sum(inserted) AS inserted,
    sum(rejected) AS rejected,
    string_agg(error, '; ' ORDER BY window_start) AS error,
    count(*) AS windows,
    max(updated_at) AS updated_at
FROM signals.provider_runs
GROUP BY provider, day;

GRANT SELECT ON signals.provider_days TO agent_warehouse_job;
