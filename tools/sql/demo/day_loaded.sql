-- Whether the demo's day has runs (make up then backfills it through the scheduler).
SELECT EXISTS (
    SELECT 1 FROM public.agent_runs
    WHERE started_at >= %(day)s::timestamp AT TIME ZONE 'UTC'
      AND started_at < (%(day)s::timestamp + interval '1 day') AT TIME ZONE 'UTC'
) AS loaded;
