-- A cleared run running again: its finished audit rows are running again (as the setup's
-- reopen does), whether or not the clear included the setup task.
UPDATE ops.job_runs
SET status = 'running', started_at = now(), finished_at = NULL, error = NULL
WHERE dag_id = %(dag_id)s AND run_id = %(run_id)s AND status IN ('success', 'failed')
RETURNING id
