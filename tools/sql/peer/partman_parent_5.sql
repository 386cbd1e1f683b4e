-- pg_partman 5.x: the same (p_type 'range', an interval for p_interval since 5.0).
SELECT partman.create_parent(p_parent_table := 'public.agent_runs', p_control := 'started_at',
                             p_type := 'range', p_interval := '1 day', p_premake := 4,
                             p_start_partition := %(start_partition)s);
