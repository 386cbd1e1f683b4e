-- Close an audit row: rows written, details merged. A failed row's error is the given one
-- followed by what failure callbacks recorded; a successful one has no error. The signal
-- figures and the period are set only when given (a rollup run's row has none).
UPDATE ops.job_runs
SET status = %(status)s, finished_at = now(), rows_written = %(rows_written)s,
    error = CASE WHEN %(status)s::text = 'success' THEN NULL ELSE concat_ws(E'\n', %(error)s::text, error) END,
    inserted = coalesce(%(inserted)s, inserted),
    companies_scored = coalesce(%(companies_scored)s, companies_scored),
    ranked_count = coalesce(%(ranked_count)s, ranked_count),
    period_start = coalesce(%(period_start)s, period_start),
    period_end = coalesce(%(period_end)s, period_end),
    details = details || %(details)s::jsonb
WHERE id = %(id)s
