-- What a pg_cron job runs nightly for pg_partman: premake and retention of every partition set.
SELECT partman.run_maintenance(p_parent_table := 'public.agent_runs');
