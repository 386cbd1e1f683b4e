-- Close a signal job's audit row with its figures.
UPDATE ops.job_runs
SET status = %(status)s, finished_at = now(), rows_written = %(rows_written)s,
    error = %(error)s, inserted = %(inserted)s, companies_scored = %(companies_scored)s,
    ranked_count = %(ranked_count)s,
    period_start = coalesce(%(period_start)s, period_start), period_end = coalesce(%(period_end)s, period_end),
    details = details || %(details)s::jsonb
WHERE id = %(id)s
RETURNING id;
