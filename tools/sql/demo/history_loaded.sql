-- Whether the demo's history (the days before its report day) has runs.
SELECT EXISTS (
    SELECT 1 FROM public.agent_runs
    WHERE started_at >= %(first)s::timestamptz AND started_at < %(end)s::timestamptz
) AS loaded;
