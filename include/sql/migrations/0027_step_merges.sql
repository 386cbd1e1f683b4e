-- The hourly step and the sketch merges, cheaper (issue 20, section 3). Same outputs.

-- ------------------------------------------- writes outside a period's rollup (0023)
-- Unchanged in what it logs. The retention and open-rollup checks were pushed by the planner
-- below the DISTINCT (a qual on a DISTINCT column may be), so they ran once per written row:
-- 1.7 s of a 200,000-run hour's step went in the 23,000 user rows' insert. The MATERIALIZED
-- CTE keeps them on the few distinct periods.
CREATE OR REPLACE FUNCTION ops.log_rollup_table_written() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    grain text := TG_ARGV[0];
    col   text := TG_ARGV[1];
    q     text;
BEGIN
    -- Dates are read as their UTC midnight.
    q := format('SELECT DISTINCT (%1$I)::timestamp AT TIME ZONE ''UTC'' FROM changed_rows', col);
    IF col = 'hour' THEN
        q := format('SELECT DISTINCT %1$I FROM changed_rows', col);
    END IF;
    IF grain = 'hour' THEN
        EXECUTE format('WITH x(p) AS MATERIALIZED (%s)
                        INSERT INTO ops.agent_runs_invalidations (hour)
                        SELECT p FROM x
                        WHERE ops.period_past_retention(''hour'', p) IS NULL
                          AND NOT ops.rollup_is_open(''hour'', p)', q);
    ELSE
        EXECUTE format('WITH x(p) AS MATERIALIZED (%2$s)
                        INSERT INTO ops.rollup_invalidations (grain, period)
                        SELECT %1$L, (p AT TIME ZONE ''UTC'')::date FROM x
                        WHERE ops.period_past_retention(%1$L, p) IS NULL
                          AND NOT ops.rollup_is_open(%1$L, p)', grain, q);
    END IF;
    RETURN NULL;
END $$;

-- ------------------------------------------------------------ the sketch merge
-- A bigint sum that stays bigint: sum(bigint) keeps a 128-bit state per group (memory
-- allocated per group) and returns numeric, which was then cast back. int8pl raises an
-- error on overflow, as that cast did.
CREATE OR REPLACE AGGREGATE ops.bigint_sum(bigint) (
    SFUNC = int8pl,
    STYPE = bigint,
    COMBINEFUNC = int8pl,
    PARALLEL = SAFE
);

-- The same merge as 0021 (the buckets summed per key, in key order), cheaper per bucket: the
-- arrays are unnested in the select list (no tuple store per call, as a function in FROM
-- has) and summed in bigint. The rollups of days, weeks and the 30-day view now merge
-- without it (one workspace's rows at a time, below, so no concatenation); kept for any caller.
CREATE OR REPLACE FUNCTION ops.sketch_merge(
    keys integer[], counts bigint[], OUT bucket_keys integer[], OUT bucket_counts bigint[]
) LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_agg(g.k ORDER BY g.k), array_agg(g.c ORDER BY g.k)
    FROM (SELECT u.k, ops.bigint_sum(u.c) AS c
          FROM (SELECT unnest(keys) AS k, unnest(counts) AS c) u
          GROUP BY u.k) g
$$;

-- One workspace's sketches of a period merged: what the day (from its hours) and the week
-- (from its days) store. Per workspace, read by the primary key: a small hash per workspace
-- costs far less than one over every (workspace, bucket) of the period, and nothing is
-- concatenated first. SQL functions returning a table, STABLE and not STRICT: the planner
-- inlines them into the caller's query (a lateral subquery per workspace).
CREATE OR REPLACE FUNCTION ops.hourly_sketches_merged(p_workspace uuid, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (bucket_keys integer[], bucket_counts bigint[]) LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT array_agg(g.k ORDER BY g.k), array_agg(g.c ORDER BY g.k)
    FROM (SELECT u.k, ops.bigint_sum(u.c) AS c
          FROM (SELECT unnest(x.bucket_keys) AS k, unnest(x.bucket_counts) AS c
                FROM analytics.runtime_sketch_hourly x
                WHERE x.workspace_id = p_workspace AND x.hour >= p_from AND x.hour < p_to) u
          GROUP BY u.k) g
$$;

CREATE OR REPLACE FUNCTION ops.daily_sketches_merged(p_workspace uuid, p_from date, p_to date)
RETURNS TABLE (bucket_keys integer[], bucket_counts bigint[]) LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT array_agg(g.k ORDER BY g.k), array_agg(g.c ORDER BY g.k)
    FROM (SELECT u.k, ops.bigint_sum(u.c) AS c
          FROM (SELECT unnest(x.bucket_keys) AS k, unnest(x.bucket_counts) AS c
                FROM analytics.runtime_sketch_daily x
                WHERE x.workspace_id = p_workspace AND x.day >= p_from AND x.day < p_to) u
          GROUP BY u.k) g
$$;

ALTER AGGREGATE ops.bigint_sum(bigint) OWNER TO agent_warehouse_owner;
ALTER FUNCTION ops.hourly_sketches_merged(uuid, timestamptz, timestamptz) OWNER TO agent_warehouse_owner;
ALTER FUNCTION ops.daily_sketches_merged(uuid, date, date) OWNER TO agent_warehouse_owner;
ALTER FUNCTION ops.sketch_merge(integer[], bigint[]) OWNER TO agent_warehouse_owner;

-- ------------------------------------------------------------ the 30-day view (0018)
-- The same view, merging its sketches as the rollups now do: the arrays unnested in the select
-- list and summed in bigint (a function in FROM materializes each row's arrays first). On
-- 1,000 workspaces x 30 days of the pipeline's own daily sketches (8.7 million buckets) the
-- merge took 1.7 s of CPU, now 1.0 s. Columns, rows and values are unchanged.
DROP MATERIALIZED VIEW IF EXISTS analytics.workspace_summary_30d;

CREATE MATERIALIZED VIEW analytics.workspace_summary_30d AS
WITH win AS (
    SELECT now() - interval '30 days' AS since, now() AS until
), cal AS (
    -- The window's UTC days. A whole day whose daily partials are current is read from
    -- them (1 row per workspace instead of 24); the other hours from the hourly rows.
    SELECT g::date AS day,
           greatest(g::timestamp AT TIME ZONE 'UTC', win.since) AS lo,
           (g::date + 1)::timestamp AT TIME ZONE 'UTC' AS hi,
           g::timestamp AT TIME ZONE 'UTC' >= win.since
             AND (g::date + 1)::timestamp AT TIME ZONE 'UTC' <= win.until
             AND EXISTS (SELECT 1 FROM ops.periods_rolled_up p WHERE p.grain = 'day' AND p.period = g::date)
             AND NOT EXISTS (SELECT 1 FROM ops.rollup_invalidations i
                             WHERE i.grain = 'day' AND i.period = g::date) AS from_daily
    FROM win, generate_series((win.since AT TIME ZONE 'UTC')::date, (win.until AT TIME ZONE 'UTC')::date,
                              interval '1 day') g
), m AS (
    SELECT workspace_id,
           sum(total_executions)::bigint      AS total_executions,
           sum(successful_executions)::bigint AS successful_executions,
           sum(failed_executions)::bigint     AS failed_executions,
           sum(total_credits)                 AS total_credits
    FROM (
        SELECT d.workspace_id, d.total_executions, d.successful_executions, d.failed_executions, d.total_credits
        FROM cal JOIN analytics.execution_metrics_daily d ON d.day = cal.day
        WHERE cal.from_daily
        UNION ALL
        SELECT h.workspace_id, h.total_executions, h.successful_executions, h.failed_executions, h.total_credits
        FROM cal JOIN analytics.execution_metrics_hourly h ON h.hour >= cal.lo AND h.hour < cal.hi
        WHERE NOT cal.from_daily
    ) parts
    GROUP BY workspace_id
)
SELECT m.workspace_id,
       m.total_executions,
       m.successful_executions,
       m.failed_executions,
       CASE WHEN m.total_executions > 0
            THEN m.successful_executions::float8 / m.total_executions END AS success_rate,
       CASE WHEN s.runtime_count > 0 THEN s.runtime_sum / s.runtime_count END AS avg_runtime,
       ops.sketch_quantile(s.bucket_keys, s.bucket_counts, 0.95) AS p95_runtime,
       m.total_credits,
       (SELECT h.hour FROM analytics.execution_metrics_hourly h
        WHERE h.workspace_id = m.workspace_id AND h.hour >= (SELECT since FROM win)
        ORDER BY h.hour DESC LIMIT 1) AS last_active_hour,
       now() AS refreshed_at
FROM m
LEFT JOIN LATERAL (
    -- One workspace's sketches merged at a time: a small hash per workspace costs far less
    -- than one over every (workspace, bucket) of the window.
    WITH parts AS (
        SELECT d.runtime_count, d.runtime_sum, d.bucket_keys, d.bucket_counts
        FROM cal JOIN analytics.runtime_sketch_daily d ON d.workspace_id = m.workspace_id AND d.day = cal.day
        WHERE cal.from_daily
        UNION ALL
        SELECT h.runtime_count, h.runtime_sum, h.bucket_keys, h.bucket_counts
        FROM cal CROSS JOIN LATERAL (
            SELECT x.runtime_count, x.runtime_sum, x.bucket_keys, x.bucket_counts
            FROM analytics.runtime_sketch_hourly x
            WHERE x.workspace_id = m.workspace_id AND x.hour >= cal.lo AND x.hour < cal.hi
            OFFSET 0  -- keeps the hour range in the index scan (not flattened into a filter)
        ) h
        WHERE NOT cal.from_daily
    )
    SELECT (SELECT sum(runtime_count) FROM parts) AS runtime_count,
           (SELECT sum(runtime_sum) FROM parts) AS runtime_sum,
           array_agg(g.k ORDER BY g.k) AS bucket_keys, array_agg(g.c ORDER BY g.k) AS bucket_counts
    FROM (SELECT u.k, ops.bigint_sum(u.c) AS c
          FROM (SELECT unnest(parts.bucket_keys) AS k, unnest(parts.bucket_counts) AS c FROM parts) u
          GROUP BY u.k) g
) s ON true
;
-- REFRESH ... CONCURRENTLY needs a unique index on plain columns.
CREATE UNIQUE INDEX workspace_summary_30d_key ON analytics.workspace_summary_30d (workspace_id);

ALTER MATERIALIZED VIEW analytics.workspace_summary_30d OWNER TO agent_warehouse_owner;
GRANT SELECT ON analytics.workspace_summary_30d TO agent_warehouse_reader;
GRANT SELECT ON analytics.workspace_summary_30d TO agent_warehouse_job;

-- ------------------------------------------------------- the 7-day leaderboard (0003)
-- Active users counted distinct over 7 days of per-user hourly rows: 168 rows a user, 4
-- million rows at 1,000 workspaces of 24 users. As the 30-day view does (0018), whole days
-- whose daily rows are current are read from user_activity_daily (one row a user and day),
-- the other hours of the window (its first, partial day, today, a stale day, and any hour
-- after today) from the hourly rows. Same users, so the same counts; columns unchanged.
DROP MATERIALIZED VIEW IF EXISTS analytics.workspace_leaderboard_7d;

CREATE MATERIALIZED VIEW analytics.workspace_leaderboard_7d AS
WITH win AS (
    SELECT now() - interval '7 days' AS since, now() AS until
), cal AS (
    SELECT g::date AS day,
           greatest(g::timestamp AT TIME ZONE 'UTC', win.since) AS lo,
           (g::date + 1)::timestamp AT TIME ZONE 'UTC' AS hi,
           g::timestamp AT TIME ZONE 'UTC' >= win.since
             AND (g::date + 1)::timestamp AT TIME ZONE 'UTC' <= win.until
             AND EXISTS (SELECT 1 FROM ops.periods_rolled_up p WHERE p.grain = 'day' AND p.period = g::date)
             AND NOT EXISTS (SELECT 1 FROM ops.rollup_invalidations i
                             WHERE i.grain = 'day' AND i.period = g::date) AS from_daily
    FROM win, generate_series((win.since AT TIME ZONE 'UTC')::date, (win.until AT TIME ZONE 'UTC')::date,
                              interval '1 day') g
    UNION ALL
    -- hours after today (the 0003 view had no upper bound)
    SELECT NULL, ((win.until AT TIME ZONE 'UTC')::date + 1)::timestamp AT TIME ZONE 'UTC', 'infinity', false
    FROM win
), m AS (
    SELECT workspace_id,
           sum(total_executions)::bigint      AS total_executions,
           sum(successful_executions)::bigint AS successful_executions,
           sum(total_credits)                 AS total_credits
    FROM analytics.execution_metrics_hourly
    WHERE hour >= (SELECT since FROM win)
    GROUP BY workspace_id
), u AS (
    SELECT workspace_id, count(DISTINCT user_id)::bigint AS active_users
    FROM (
        SELECT d.workspace_id, d.user_id
        FROM cal JOIN analytics.user_activity_daily d ON d.day = cal.day
        WHERE cal.from_daily
        UNION ALL
        SELECT h.workspace_id, h.user_id
        FROM cal JOIN analytics.user_activity_hourly h ON h.hour >= cal.lo AND h.hour < cal.hi
        WHERE NOT cal.from_daily
    ) parts
    GROUP BY workspace_id
)
SELECT rank() OVER (ORDER BY m.total_credits DESC, m.total_executions DESC)::bigint AS credit_rank,
       m.workspace_id,
       m.total_credits,
       m.total_executions,
       CASE WHEN m.total_executions > 0
            THEN m.successful_executions::float8 / m.total_executions END AS success_rate,
       coalesce(u.active_users, 0) AS active_users,
       now() AS refreshed_at
FROM m
LEFT JOIN u USING (workspace_id);
CREATE UNIQUE INDEX workspace_leaderboard_7d_key ON analytics.workspace_leaderboard_7d (workspace_id);
CREATE INDEX workspace_leaderboard_7d_rank ON analytics.workspace_leaderboard_7d (credit_rank);

ALTER MATERIALIZED VIEW analytics.workspace_leaderboard_7d OWNER TO agent_warehouse_owner;
GRANT SELECT ON analytics.workspace_leaderboard_7d TO agent_warehouse_reader;
GRANT SELECT ON analytics.workspace_leaderboard_7d TO agent_warehouse_job;
