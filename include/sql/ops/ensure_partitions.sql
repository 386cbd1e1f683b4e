-- Daily partitions of agent_runs from the run's day up to `days_ahead` days later.
SELECT ops.ensure_agent_runs_partitions(
    (%(start)s::timestamptz AT TIME ZONE 'UTC')::date,
    (%(start)s::timestamptz AT TIME ZONE 'UTC')::date + %(days_ahead)s::integer + 1
) AS partitions_created;
