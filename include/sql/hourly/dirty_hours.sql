-- Hours before the run's own interval whose raw rows changed since they were rolled up.
SELECT DISTINCT hour
FROM ops.agent_runs_invalidations
WHERE hour < %(before)s::timestamptz
ORDER BY hour;
