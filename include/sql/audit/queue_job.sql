-- The audit row of a run the internal API is about to trigger, under the run id it will
-- trigger with (the run claims the row by that id). Nothing when the key was used before.
INSERT INTO ops.job_runs (job_type, dag_id, run_id, workspace_id, status, idempotency_key, run_type,
                          triggered_by, details)
VALUES ('daily_aggregation', %(dag_id)s, %(run_id)s, %(workspace_id)s, 'queued', %(key)s, 'manual',
        'internal_api', %(details)s::jsonb)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id;
