-- The audit rows of a DAG run follow the state Airflow gives the run when it ends, however
-- it ends: the teardown already wrote the same state (nothing changes), or an operator set
-- the state (PATCH dagRun, "Mark as success/failed"), or the teardown never ran. A changed
-- row keeps what it said before in details.
UPDATE ops.job_runs
SET status = %(status)s::text,
    finished_at = now(),
    error = CASE WHEN %(status)s::text = 'success' THEN NULL
                 ELSE concat_ws(E'\n', error, %(note)s::text) END,
    details = details || jsonb_strip_nulls(jsonb_build_object(
        'state_set_by_airflow', %(note)s::text, 'status_before', status, 'error_before', error))
WHERE dag_id = %(dag_id)s AND run_id = %(run_id)s AND status IS DISTINCT FROM %(status)s::text
RETURNING id
