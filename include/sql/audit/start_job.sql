-- Open (or reopen, on a rerun of the same DAG run) the run's audit row; returns its id.
INSERT INTO ops.job_runs AS j (job_type, dag_id, run_id, workspace_id, status, started_at,
                               idempotency_key, run_type, triggered_by, period_start, period_end)
VALUES (%(job_type)s, %(dag_id)s, %(run_id)s, %(workspace_id)s, 'running', now(),
        %(key)s, %(run_type)s, %(triggered_by)s, %(period_start)s, %(period_end)s)
ON CONFLICT (idempotency_key) DO UPDATE SET
    status = 'running', started_at = now(), finished_at = NULL, error = NULL,
    run_type = EXCLUDED.run_type, triggered_by = EXCLUDED.triggered_by
RETURNING id
