-- The floor under the hourly step: one bare scan of the hour's raw rows.
SELECT count(*) FROM public.agent_runs
WHERE started_at >= %(start)s::timestamptz AND started_at < %(end)s::timestamptz;
