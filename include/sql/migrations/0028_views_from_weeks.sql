-- The dashboard views read coarser current partials (issue 20, the mv_refresh figure). Same
-- columns, rows and values.

-- ------------------------------------------------------------ the 30-day view (0027)
-- Whole ISO weeks of the window are read from the weekly partials (runtime_sketch_weekly,
-- execution_metrics_weekly: one row per workspace and week instead of seven), whole days
-- outside them from the daily partials and the other hours from the hourly rows. On 1,000
-- workspaces at 200,000 runs an hour the merge read 52 sketches a workspace (29 days and 23
-- hours, 10,800 buckets); with three whole weeks, 34 (5,800 buckets).
-- A week is read from its weekly rows only when they are current: rolled up
-- (ops.periods_rolled_up, grain 'week') and not invalidated since (ops.rollup_invalidations:
-- a change to its daily rows logs the week in the same transaction), and only when each of
-- its seven days is itself current as the view tests days: a change to an hour logs its day,
-- not its week, so a week whose day is stale is read from that day's hours and the other
-- days' daily rows, as before.
DROP MATERIALIZED VIEW IF EXISTS analytics.workspace_summary_30d;

CREATE MATERIALIZED VIEW analytics.workspace_summary_30d AS
WITH win AS (
    SELECT now() - interval '30 days' AS since, now() AS until
), cal AS (
    -- The window's UTC days, with the Monday of their ISO week. A whole day whose daily
    -- partials are current can be read from them; the other hours from the hourly rows.
    SELECT g::date AS day,
           g::date - (extract(isodow FROM g::date)::integer - 1) AS week,
           greatest(g::timestamp AT TIME ZONE 'UTC', win.since) AS lo,
           (g::date + 1)::timestamp AT TIME ZONE 'UTC' AS hi,
           g::timestamp AT TIME ZONE 'UTC' >= win.since
             AND (g::date + 1)::timestamp AT TIME ZONE 'UTC' <= win.until
             AND EXISTS (SELECT 1 FROM ops.periods_rolled_up p WHERE p.grain = 'day' AND p.period = g::date)
             AND NOT EXISTS (SELECT 1 FROM ops.rollup_invalidations i
                             WHERE i.grain = 'day' AND i.period = g::date) AS from_daily
    FROM win, generate_series((win.since AT TIME ZONE 'UTC')::date, (win.until AT TIME ZONE 'UTC')::date,
                              interval '1 day') g
), wk AS (
    -- The weeks read from the weekly partials: all seven days whole in the window and current,
    -- the week rolled up and not invalidated since.
    SELECT c.week
    FROM cal c
    WHERE c.from_daily
    GROUP BY c.week
    HAVING count(*) = 7
       AND EXISTS (SELECT 1 FROM ops.periods_rolled_up p WHERE p.grain = 'week' AND p.period = c.week)
       AND NOT EXISTS (SELECT 1 FROM ops.rollup_invalidations i WHERE i.grain = 'week' AND i.period = c.week)
), src AS (
    -- Each day's source: 'week' (its week's rows), 'day' (its daily rows) or 'hour'.
    SELECT cal.day, cal.lo, cal.hi,
           CASE WHEN wk.week IS NOT NULL THEN 'week' WHEN cal.from_daily THEN 'day' ELSE 'hour' END AS grain
    FROM cal LEFT JOIN wk ON wk.week = cal.week
), m AS (
    SELECT workspace_id,
           sum(total_executions)::bigint      AS total_executions,
           sum(successful_executions)::bigint AS successful_executions,
           sum(failed_executions)::bigint     AS failed_executions,
           sum(total_credits)                 AS total_credits
    FROM (
        SELECT w.workspace_id, w.total_executions, w.successful_executions, w.failed_executions, w.total_credits
        FROM wk JOIN analytics.execution_metrics_weekly w ON w.week_start = wk.week
        UNION ALL
        SELECT d.workspace_id, d.total_executions, d.successful_executions, d.failed_executions, d.total_credits
        FROM src JOIN analytics.execution_metrics_daily d ON d.day = src.day
        WHERE src.grain = 'day'
        UNION ALL
        SELECT h.workspace_id, h.total_executions, h.successful_executions, h.failed_executions, h.total_credits
        FROM src JOIN analytics.execution_metrics_hourly h ON h.hour >= src.lo AND h.hour < src.hi
        WHERE src.grain = 'hour'
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
    -- One workspace's sketches merged at a time (0027).
    WITH parts AS (
        SELECT w.runtime_count, w.runtime_sum, w.bucket_keys, w.bucket_counts
        FROM wk JOIN analytics.runtime_sketch_weekly w ON w.workspace_id = m.workspace_id AND w.week_start = wk.week
        UNION ALL
        SELECT d.runtime_count, d.runtime_sum, d.bucket_keys, d.bucket_counts
        FROM src JOIN analytics.runtime_sketch_daily d ON d.workspace_id = m.workspace_id AND d.day = src.day
        WHERE src.grain = 'day'
        UNION ALL
        SELECT h.runtime_count, h.runtime_sum, h.bucket_keys, h.bucket_counts
        FROM src CROSS JOIN LATERAL (
            SELECT x.runtime_count, x.runtime_sum, x.bucket_keys, x.bucket_counts
            FROM analytics.runtime_sketch_hourly x
            WHERE x.workspace_id = m.workspace_id AND x.hour >= src.lo AND x.hour < src.hi
            OFFSET 0  -- keeps the hour range in the index scan (not flattened into a filter)
        ) h
        WHERE src.grain = 'hour'
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

-- ------------------------------------------------------- the 7-day leaderboard (0027)
-- The counts and credits of whole current days from execution_metrics_daily (one row a
-- workspace and day; 0027 read 168 hourly rows a workspace with a scan of the hourly table),
-- the other hours from the hourly rows, as the users already were. Distinct users are
-- counted by hashing each (workspace, user) once, then counting per workspace (0027 sorted
-- 670,000 rows for count(DISTINCT)). Same rows, same counts and credits.
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
    FROM (
        SELECT d.workspace_id, d.total_executions, d.successful_executions, d.total_credits
        FROM cal JOIN analytics.execution_metrics_daily d ON d.day = cal.day
        WHERE cal.from_daily
        UNION ALL
        SELECT h.workspace_id, h.total_executions, h.successful_executions, h.total_credits
        FROM cal JOIN analytics.execution_metrics_hourly h ON h.hour >= cal.lo AND h.hour < cal.hi
        WHERE NOT cal.from_daily
    ) parts
    GROUP BY workspace_id
), u AS (
    SELECT workspace_id, count(*)::bigint AS active_users
    FROM (
        SELECT DISTINCT workspace_id, user_id
        FROM (
            SELECT d.workspace_id, d.user_id
            FROM cal JOIN analytics.user_activity_daily d ON d.day = cal.day
            WHERE cal.from_daily
            UNION ALL
            SELECT h.workspace_id, h.user_id
            FROM cal JOIN analytics.user_activity_hourly h ON h.hour >= cal.lo AND h.hour < cal.hi
            WHERE NOT cal.from_daily
        ) parts
    ) users
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
