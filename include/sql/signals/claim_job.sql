-- A run takes over the audit row the internal API queued for it (conf job_run_id).
UPDATE ops.job_runs
SET status = 'running', started_at = now(), finished_at = NULL, error = NULL,
    period_start = %(period_start)s, period_end = %(period_end)s
WHERE id = %(id)s AND job_type = 'daily_aggregation'
RETURNING id;
