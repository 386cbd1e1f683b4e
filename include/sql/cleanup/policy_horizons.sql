-- The latest horizons the owner's retention policy allows (migration 0023): the cleanup never
-- asks for more, and the owner's functions lower anything later to these.
SELECT
    ops.utc_today() - p.min_raw_days AS raw_latest,
    ops.utc_today() - p.min_hourly_days AS hourly_latest
FROM ops.current_retention_policy() p;
