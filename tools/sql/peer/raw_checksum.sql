-- Fingerprint of the raw rows: both databases must hold the same runs. Sums as numeric: a
-- float sum depends on the order a parallel plan adds the rows in.
SELECT count(*), count(DISTINCT workspace_id), count(DISTINCT user_id), sum(runtime_seconds::numeric),
       sum(credits_consumed), sum(extract(epoch FROM started_at)), min(started_at), max(started_at),
       count(*) FILTER (WHERE status = 'completed')
FROM public.agent_runs;
