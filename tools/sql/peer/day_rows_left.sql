-- Raw rows left in the day retention was asked to drop, and the partitions left in all.
SELECT (SELECT count(*) FROM public.agent_runs WHERE started_at >= %(start)s AND started_at < %(end)s),
       (SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.agent_runs'::regclass);
