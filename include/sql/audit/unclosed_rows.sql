-- Audit rows of other runs of this DAG still open (queued or running), newest first: the
-- setup of a new run asks Airflow whether each of those runs has ended, and closes the rows
-- of the ended. A teardown that failed leaves its row for the very next run; a week bounds
-- how far back each run looks (and how many questions it asks Airflow).
SELECT id, run_id
FROM ops.job_runs
WHERE dag_id = %(dag_id)s AND status IN ('queued', 'running') AND run_id IS DISTINCT FROM %(run_id)s
  AND started_at > now() - interval '7 days'
ORDER BY id DESC
LIMIT 20
