-- Synthetic agent runs for one hour [start, start + 1h): skewed workspaces (a power law:
-- a few busy tenants, a long tail of quiet ones), ~8% failures, in-flight runs without
-- runtime or credits, and log-normal runtimes with a heavy (Pareto) tail.
SELECT setseed(%(seed)s);

INSERT INTO public.agent_runs (workspace_id, user_id, status, started_at, runtime_seconds, credits_consumed)
SELECT md5('workspace-' || w)::uuid,
       md5('user-' || w || '-' || floor(power(r_user, 2) * (5 + w %% 40)))::uuid,
       status,
       %(start)s::timestamptz + r_time * interval '1 hour',
       runtime,
       CASE WHEN runtime IS NOT NULL THEN round((runtime * (0.002 + (w %% 5) * 0.001))::numeric, 4) END
FROM (
    SELECT w, r_user, r_time, status,
           CASE WHEN status IN ('completed', 'failed', 'cancelled') THEN
               exp(1.5 + (w %% 7) * 0.35 + 0.9 * sqrt(-2 * ln(1 - r1)) * cos(2 * pi() * r2))
               * CASE WHEN r_tail < 0.01 THEN 1 / power(1 - r_tail * 99, 0.5) * 8 ELSE 1 END
           END AS runtime
    FROM (
        SELECT floor(%(workspaces)s * power(random(), 2.5))::int AS w,
               random() AS r_user, random() AS r_time, random() AS r1, random() AS r2,
               random() AS r_tail,
               CASE WHEN rs < 0.86 THEN 'completed' WHEN rs < 0.94 THEN 'failed'
                    WHEN rs < 0.97 THEN 'cancelled' WHEN rs < 0.99 THEN 'running'
                    ELSE 'queued' END AS status
        FROM (SELECT random() AS rs FROM generate_series(1, %(rows)s)) s
    ) g
) r;
