-- The exact reference, from raw rows, independently of both sides' rollups: PERCENTILE_CONT(0.95)
-- of the non-null runtimes (the contract's p95, docs/contract.md) per workspace and hour, day
-- and ISO week of [first_hour, end_hour), and the exact distinct users (NULL as one user, as
-- both sides count it) per workspace and week.
SELECT 'hour' AS grain, workspace_id, date_trunc('hour', started_at) AS period,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY runtime_seconds) AS p95, NULL::bigint AS users
FROM public.agent_runs
WHERE started_at >= %(first_hour)s AND started_at < %(end_hour)s
GROUP BY 2, 3
UNION ALL
SELECT 'day', workspace_id, date_trunc('day', started_at),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY runtime_seconds), NULL
FROM public.agent_runs
WHERE started_at >= %(first_hour)s AND started_at < %(end_hour)s
GROUP BY 2, 3
UNION ALL
SELECT 'week', workspace_id, date_trunc('week', started_at),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY runtime_seconds),
       count(DISTINCT coalesce(user_id, '00000000-0000-0000-0000-000000000000'::uuid))
FROM public.agent_runs
WHERE started_at >= %(first_hour)s AND started_at < %(end_hour)s
GROUP BY 2, 3;
