-- Close a run's audit row with the run's state: rows written, details merged. A failed run's
-- error names its failed tasks, followed by what their failure callbacks recorded; a
-- successful run has no error.
UPDATE ops.job_runs
SET status = %(status)s, finished_at = now(), rows_written = %(rows_written)s,
    error = CASE WHEN %(status)s::text = 'success' THEN NULL ELSE concat_ws(E'\n', %(error)s::text, error) END,
    details = details || %(details)s::jsonb
WHERE id = %(id)s
