-- The job a (workspace, idempotency key) already created, with what a replay needs to start
-- its DAG run if the first call never did.
SELECT id, status, inserted, companies_scored, ranked_count, error, run_id, workspace_id::text,
       details ->> 'pack_id', details ->> 'day', details -> 'conf'
FROM ops.job_runs
WHERE idempotency_key = %(key)s;
