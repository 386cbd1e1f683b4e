-- Reconciliation incidents about periods starting in [start, end), for the daily report.
SELECT id, found_at, grain, period, table_name, what_differed, outcome, dag_id, run_id
FROM ops.reconciliation_incidents
WHERE period >= %(start)s::timestamptz AND period < %(end)s::timestamptz
ORDER BY id
LIMIT %(limit)s
