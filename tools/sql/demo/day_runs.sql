-- How many runs the demo's day holds.
SELECT count(*) FROM public.agent_runs
WHERE started_at >= %(day)s::timestamp AT TIME ZONE 'UTC'
  AND started_at < (%(day)s::timestamp + interval '1 day') AT TIME ZONE 'UTC';
