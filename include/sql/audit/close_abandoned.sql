-- Close the row of a run that has ended but whose teardown never closed it (it failed after
-- its retries), with the state Airflow gave the run; the row says which run closed it.
UPDATE ops.job_runs
SET status = %(status)s, finished_at = now(),
    error = CASE WHEN %(status)s::text = 'success' THEN NULL
                 ELSE concat_ws(E'\n', error, 'failed: the run ended with its audit teardown not done') END,
    details = details || jsonb_build_object('closed_by_run', %(closed_by)s::text)
WHERE id = %(id)s AND status IN ('queued', 'running')
