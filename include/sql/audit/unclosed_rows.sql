-- Audit rows of other runs of this DAG still open (queued or running): the setup of a new
-- run asks Airflow whether each of those runs has ended, and closes the rows of the ended.
SELECT id, run_id
FROM ops.job_runs
WHERE dag_id = %(dag_id)s AND status IN ('queued', 'running') AND run_id IS DISTINCT FROM %(run_id)s
ORDER BY id
LIMIT 50
