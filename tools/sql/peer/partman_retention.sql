-- Retention as pg_partman keeps it: drop (not detach) every daily partition older than the
-- retention interval (pg_partman drops a partition once its upper bound is older than now minus
-- the retention). The interval is chosen so that exactly the benchmark's first day,
-- [first_day, first_day + 1), is past it, as the package's cleanup is asked to drop it.
UPDATE partman.part_config
SET retention = (date_trunc('hour', now()) - (%(first_day)s::date + interval '36 hours'))::text,
    retention_keep_table = false,
    retention_keep_index = false
WHERE parent_table = 'public.agent_runs'
RETURNING retention;
