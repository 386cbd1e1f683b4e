-- Reconciliation incidents found since a moment, newest first.
SELECT id, found_at, grain, period, table_name, what_differed, mismatches, outcome, dag_id, run_id
FROM ops.reconciliation_incidents
WHERE found_at >= %(since)s::timestamptz
ORDER BY found_at DESC, id DESC
LIMIT %(limit)s
