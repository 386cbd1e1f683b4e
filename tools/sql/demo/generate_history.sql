-- The demo's history in one set-based statement: every hour of [first, end), with a daily
-- cycle (busy UTC afternoons, quiet nights), a weekly one (weekends at about half), slow
-- growth and skewed workspaces (a power law, as in synthetic/generate_hour.sql). The
-- `degrading` workspaces decline over the last `decline_days`: more failures, slower and
-- costlier runs, a step a day (steeper for some). Runs of workspace 0 (the busiest) in
-- [incident_start, incident_end) mostly fail and run about four times longer: an incident.
SELECT setseed(%(seed)s);

INSERT INTO public.agent_runs (workspace_id, user_id, status, started_at, runtime_seconds, credits_consumed)
SELECT md5('workspace-' || w)::uuid,
       md5('user-' || w || '-' || floor(power(r_user, 2) * (5 + w %% 40)))::uuid,
       CASE WHEN rs < 0.92 - fail THEN 'completed' WHEN rs < 0.97 THEN 'failed'
            WHEN rs < 0.985 THEN 'cancelled' WHEN rs < 0.995 THEN 'running'
            ELSE 'queued' END,
       hour + r_time * interval '1 hour',
       runtime,
       CASE WHEN runtime IS NOT NULL THEN round((runtime * (0.002 + (w %% 5) * 0.001))::numeric, 4) END
FROM (
    SELECT hour, w, r_user, r_time, rs, fail,
           CASE WHEN rs < 0.985 THEN  -- finished: completed, failed or cancelled
               slow * exp(1.5 + (w %% 7) * 0.35 + 0.9 * sqrt(-2 * ln(1 - r1)) * cos(2 * pi() * r2))
               * CASE WHEN r_tail < 0.01 THEN 1 / power(1 - r_tail * 99, 0.5) * 8 ELSE 1 END
           END AS runtime
    FROM (
        SELECT g.*,
               -- the failure share taken from 'completed' (every workspace fails 5%% anyway)
               CASE WHEN g.incident_hour AND g.w = 0 THEN 0.55
                    WHEN g.w = ANY(%(degrading)s::int[])
                        THEN least(0.5, 0.03 * power(g.step * (0.6 + 0.2 * (g.w %% 3)), 2))
                    ELSE 0 END AS fail,
               CASE WHEN g.incident_hour AND g.w = 0 THEN 4
                    WHEN g.w = ANY(%(degrading)s::int[])
                        THEN 1 + 0.15 * power(g.step * (0.6 + 0.2 * (g.w %% 3)), 2)
                    ELSE 1 END AS slow
        FROM (
            SELECT h.hour,
                   floor(%(workspaces)s * power(random(), 2.5))::int AS w,
                   random() AS r_user, random() AS r_time, random() AS rs, random() AS r1, random() AS r2,
                   random() AS r_tail,
                   -- days into the decline: 0 until decline_days before the end, then 1, 2, ...
                   greatest(%(decline_days)s - ceil(extract(EPOCH FROM %(end)s::timestamptz - h.hour) / 86400), 0)
                       AS step,
                   h.hour >= %(incident_start)s::timestamptz
                   AND h.hour < %(incident_end)s::timestamptz AS incident_hour
            FROM (
                SELECT hour,
                       -- runs this hour: a daily cycle peaking at 15:00 UTC, weekends at 55%%,
                       -- 1%% growth a day, +-10%% noise
                       round(%(rows_per_hour)s
                             * (1 + 0.6 * cos(2 * pi() * (extract(HOUR FROM hour AT TIME ZONE 'UTC') - 15) / 24))
                             * CASE WHEN extract(ISODOW FROM hour AT TIME ZONE 'UTC') >= 6 THEN 0.55 ELSE 1 END
                             * (1 + 0.01 * extract(EPOCH FROM hour - %(first)s::timestamptz) / 86400)
                             * (0.9 + 0.2 * random()))::int AS n
                FROM generate_series(%(first)s::timestamptz, %(end)s::timestamptz - interval '1 hour',
                                     interval '1 hour') AS hour
            ) h
            CROSS JOIN LATERAL generate_series(1, h.n) AS i
        ) g
    ) f
) r;
