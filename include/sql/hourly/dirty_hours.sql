-- Hours before the run's own interval whose raw rows changed since they were rolled up.
-- Hours before the retention horizon (their raw days were dropped by cleanup_old_data) are
-- final: a late row there must not recompute an hour from that one row.
SELECT DISTINCT hour
FROM ops.agent_runs_invalidations
WHERE hour < %(before)s::timestamptz
  AND hour >= coalesce((SELECT raw_kept_from FROM ops.retention_state), '-infinity'::timestamptz)
  -- never an hour outside the supported range (migration 0022; the triggers log none)
  AND hour >= ops.agent_runs_supported_from() AND hour < ops.agent_runs_supported_until()
ORDER BY hour;
