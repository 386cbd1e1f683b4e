-- How many runs the demo's history holds.
SELECT count(*) FROM public.agent_runs
WHERE started_at >= %(first)s::timestamptz AND started_at < %(end)s::timestamptz;
