-- The job a (workspace, idempotency key) already created, with what a replay needs to start
-- its DAG run if the first call never did.
-- The parameters are those the first call asked for (details.request; rows queued before it
-- existed keep them at the top level), not what the run merged into the row later.
SELECT
    id, status, inserted, companies_scored, ranked_count, error, run_id, workspace_id::text,
    coalesce(details -> 'request', details) ->> 'pack_id' AS pack_id,
    coalesce(details -> 'request', details) ->> 'day' AS day,
    details -> 'conf' AS conf
FROM ops.job_runs
WHERE idempotency_key = %(key)s;
