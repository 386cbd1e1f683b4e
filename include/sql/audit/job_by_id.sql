-- One signal job's answer (the internal API's GET /internal/job_runs/{id}).
SELECT id, status, inserted, companies_scored, ranked_count, error
FROM ops.job_runs
WHERE id = %(id)s AND job_type = 'daily_aggregation';
