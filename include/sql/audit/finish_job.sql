-- Close a run's audit row: status, rows written, details merged; without a new error the recorded one stays.
UPDATE ops.job_runs
SET status = %(status)s, finished_at = now(), rows_written = %(rows_written)s,
    error = coalesce(%(error)s, error), details = details || %(details)s::jsonb
WHERE id = %(id)s
