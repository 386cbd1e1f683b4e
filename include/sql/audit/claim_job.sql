-- A run takes over the audit row created for its own run id: the one the internal API
-- created before it triggered the run with that (deterministic) run id, or an earlier try
-- of this run's. Found by (dag_id, run_id, workspace), never by an id from the run's conf,
-- so no run can touch another run's row.
UPDATE ops.job_runs
SET status = 'running', started_at = now(), finished_at = NULL, error = NULL,
    period_start = %(period_start)s, period_end = %(period_end)s
WHERE job_type = 'daily_aggregation' AND dag_id = %(dag_id)s AND run_id = %(run_id)s
  AND workspace_id IS NOT DISTINCT FROM %(workspace_id)s::uuid
RETURNING id;
