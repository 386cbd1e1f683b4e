-- Append a failed task's error to its run's audit row (every failure stays visible).
UPDATE ops.job_runs SET error = coalesce(error || E'\n', '') || %(error)s
WHERE idempotency_key = %(key)s
