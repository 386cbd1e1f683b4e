-- A late batch: %(rows)s runs of one workspace that started in the hour [hour, hour + 1h)
-- but reach the warehouse only now, after that hour was rolled up (a delayed export, a
-- region that came back online). The invalidation triggers name the hour, so the next
-- hourly run repairs it and the next daily run recomputes its day.
SELECT setseed(%(seed)s);

INSERT INTO public.agent_runs (workspace_id, user_id, status, started_at, runtime_seconds, credits_consumed)
SELECT md5('workspace-' || %(workspace)s::int)::uuid,
       md5('user-' || %(workspace)s::int || '-' || floor(random() * 5))::uuid,
       CASE WHEN rs < 0.9 THEN 'completed' ELSE 'failed' END,
       %(hour)s::timestamptz + random() * interval '1 hour',
       runtime,
       round((runtime * 0.003)::numeric, 4)
FROM (
    SELECT random() AS rs, exp(2 + 0.8 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())) AS runtime
    FROM generate_series(1, %(rows)s)
) g;
