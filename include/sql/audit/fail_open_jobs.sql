-- Rows of a run that no task closed (an upstream task failed): mark them failed. Only this
-- run's own rows (dag_id, run_id).
UPDATE ops.job_runs
SET status = 'failed', finished_at = now(),
    error = coalesce(error, %(error)s)
WHERE status IN ('queued', 'running')
  AND dag_id = %(dag_id)s AND run_id = %(run_id)s
RETURNING id;
