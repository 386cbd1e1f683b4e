-- Runs of the given pg_cron jobs since they were scheduled: started, finished, failed, and
-- the first start and last end (server clock).
SELECT count(DISTINCT jobid),
       count(DISTINCT jobid) FILTER (WHERE status IN ('succeeded', 'failed')),
       count(*) FILTER (WHERE status = 'failed'),
       min(start_time), max(end_time),
       string_agg(DISTINCT return_message, '; ') FILTER (WHERE status = 'failed')
FROM cron.job_run_details
WHERE jobid = ANY(%(jobs)s) AND start_time >= %(since)s;
