-- The audit rows the demo's runs wrote, by DAG and status.
SELECT dag_id, status, count(*) FROM ops.job_runs GROUP BY 1, 2 ORDER BY 1, 2;
