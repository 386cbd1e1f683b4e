-- Late data for the late_repair pair: extra runs into one hour, some status changes and some
-- deletions there too (the generator's INSERT runs before this, in its own statements).
UPDATE public.agent_runs SET status = 'completed', runtime_seconds = 30, credits_consumed = 0.3
WHERE started_at >= %(start)s::timestamptz AND started_at < %(end)s::timestamptz
  AND status = 'running' AND id %% 10 = 0;
DELETE FROM public.agent_runs
WHERE started_at >= %(start)s::timestamptz AND started_at < %(end)s::timestamptz
  AND status = 'queued' AND id %% 10 = 0;
