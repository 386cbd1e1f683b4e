-- Daily partitions of agent_runs for the days [first_day, end_day) a load writes into.
SELECT ops.ensure_agent_runs_partitions(%(first_day)s::date, %(end_day)s::date);
