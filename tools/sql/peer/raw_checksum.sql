-- Fingerprint of the raw rows: both databases must hold the same runs.
SELECT count(*), count(DISTINCT workspace_id), sum(runtime_seconds), sum(credits_consumed),
       min(started_at), max(started_at)
FROM public.agent_runs;
