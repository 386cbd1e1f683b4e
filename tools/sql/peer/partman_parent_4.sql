-- pg_partman 4.x (Debian bookworm ships 4.7): daily native partitions of public.agent_runs
-- from the first loaded day to a few days past today, plus a default partition.
SELECT partman.create_parent(p_parent_table := 'public.agent_runs', p_control := 'started_at',
                             p_type := 'native', p_interval := 'daily', p_premake := 4,
                             p_start_partition := %(start_partition)s, p_jobmon := false);
