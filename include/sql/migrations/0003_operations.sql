-- Operations: retention bookkeeping, dashboard materialized views, least-privilege roles
-- and the SECURITY DEFINER functions through which the job role drops raw partitions,
-- creates partitions ahead and refreshes views without any DDL right of its own.

-- ------------------------------------------------------------------ roles
-- Roles are cluster-wide: create each one only if missing. NOLOGIN: a deployment gives a
-- login to a user of its own and grants it the role (GRANT agent_warehouse_job TO airflow).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'agent_warehouse_owner') THEN
        CREATE ROLE agent_warehouse_owner NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'agent_warehouse_job') THEN
        CREATE ROLE agent_warehouse_job NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'agent_warehouse_reader') THEN
        CREATE ROLE agent_warehouse_reader NOLOGIN;
    END IF;
END $$;

-- ------------------------------------------------------------ retention state
-- The oldest instant raw rows are kept from (set by every cleanup). Hours before it have
-- no raw rows any more, so their rollups are final: a late row there must not make the
-- hourly repair recompute an hour from one row.
CREATE TABLE IF NOT EXISTS ops.retention_state (
    id            boolean PRIMARY KEY DEFAULT true CHECK (id),
    raw_kept_from timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- ------------------------------------------------------ dashboard materialized views
-- Per workspace, the last 30 days (from the hourly rollups, so cheap to refresh).
-- avg_runtime is exact (runtime sum / count); p95_runtime merges the hourly log-bucket
-- sketches (within 0.9% of PERCENTILE_CONT).
CREATE MATERIALIZED VIEW IF NOT EXISTS analytics.workspace_summary_30d AS
WITH win AS (
    SELECT now() - interval '30 days' AS since
), m AS (
    SELECT workspace_id,
           sum(total_executions)::bigint      AS total_executions,
           sum(successful_executions)::bigint AS successful_executions,
           sum(failed_executions)::bigint     AS failed_executions,
           sum(total_credits)                 AS total_credits,
           max(hour)                          AS last_active_hour
    FROM analytics.execution_metrics_hourly, win
    WHERE hour >= win.since
    GROUP BY workspace_id
), b AS (
    SELECT s.workspace_id, u.k, sum(u.c)::bigint AS c
    FROM analytics.runtime_sketch_hourly s, win,
         unnest(s.bucket_keys, s.bucket_counts) AS u(k, c)
    WHERE s.hour >= win.since
    GROUP BY s.workspace_id, u.k
), r AS (
    SELECT s.workspace_id, sum(s.runtime_count) AS runtime_count, sum(s.runtime_sum) AS runtime_sum
    FROM analytics.runtime_sketch_hourly s, win
    WHERE s.hour >= win.since
    GROUP BY s.workspace_id
), q AS (
    SELECT workspace_id,
           ops.sketch_quantile(array_agg(k ORDER BY k), array_agg(c ORDER BY k), 0.95) AS p95_runtime
    FROM b
    GROUP BY workspace_id
)
SELECT m.workspace_id,
       m.total_executions,
       m.successful_executions,
       m.failed_executions,
       CASE WHEN m.total_executions > 0
            THEN m.successful_executions::float8 / m.total_executions END AS success_rate,
       CASE WHEN r.runtime_count > 0 THEN r.runtime_sum / r.runtime_count END AS avg_runtime,
       q.p95_runtime,
       m.total_credits,
       m.last_active_hour,
       now() AS refreshed_at
FROM m
LEFT JOIN r USING (workspace_id)
LEFT JOIN q USING (workspace_id);
-- REFRESH ... CONCURRENTLY needs a unique index on plain columns.
CREATE UNIQUE INDEX IF NOT EXISTS workspace_summary_30d_key ON analytics.workspace_summary_30d (workspace_id);

-- The 7-day leaderboard: workspaces ranked by credits consumed, with activity.
CREATE MATERIALIZED VIEW IF NOT EXISTS analytics.workspace_leaderboard_7d AS
WITH m AS (
    SELECT workspace_id,
           sum(total_executions)::bigint      AS total_executions,
           sum(successful_executions)::bigint AS successful_executions,
           sum(total_credits)                 AS total_credits
    FROM analytics.execution_metrics_hourly
    WHERE hour >= now() - interval '7 days'
    GROUP BY workspace_id
), u AS (
    SELECT workspace_id, count(DISTINCT user_id)::bigint AS active_users
    FROM analytics.user_activity_hourly
    WHERE hour >= now() - interval '7 days'
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
CREATE UNIQUE INDEX IF NOT EXISTS workspace_leaderboard_7d_key ON analytics.workspace_leaderboard_7d (workspace_id);
CREATE INDEX IF NOT EXISTS workspace_leaderboard_7d_rank ON analytics.workspace_leaderboard_7d (credit_rank);

-- ------------------------------------------------------ privileged entry points
-- Refresh one dashboard view CONCURRENTLY (readers are never blocked). REFRESH needs
-- ownership, so the job role calls this instead; only materialized views of analytics.
CREATE OR REPLACE FUNCTION ops.refresh_dashboard_view(p_name text)
RETURNS double precision LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    began timestamptz := clock_timestamp();
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_matviews WHERE schemaname = 'analytics' AND matviewname = p_name) THEN
        RAISE EXCEPTION 'analytics.% is not a materialized view', p_name;
    END IF;
    EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.%I', p_name);
    RETURN extract(epoch FROM clock_timestamp() - began);
END $$;

-- Hours of [p_from, p_to) whose raw rows are not rolled up as they are now: named in the
-- invalidation log, or whose per-workspace row count differs from the hourly rollup
-- (usable rows in execution_metrics_hourly plus rejected rows).
CREATE OR REPLACE FUNCTION ops.hours_not_rolled_up(p_from timestamptz, p_to timestamptz)
RETURNS SETOF timestamptz LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
    SELECT hour FROM ops.agent_runs_invalidations
    WHERE hour >= p_from AND hour < p_to
    UNION
    SELECT coalesce(raw.hour, rolled.hour)
    FROM (SELECT workspace_id, date_trunc('hour', started_at, 'UTC') AS hour, count(*) AS n
          FROM public.agent_runs
          WHERE started_at >= p_from AND started_at < p_to
          GROUP BY 1, 2) raw
    FULL JOIN (
          SELECT workspace_id, hour, sum(n) AS n
          FROM (SELECT workspace_id, hour, total_executions AS n
                FROM analytics.execution_metrics_hourly WHERE hour >= p_from AND hour < p_to
                UNION ALL
                SELECT workspace_id, hour, row_count
                FROM ops.rejected_runs_hourly WHERE hour >= p_from AND hour < p_to) x
          GROUP BY 1, 2) rolled
      ON raw.workspace_id = rolled.workspace_id AND raw.hour = rolled.hour
    WHERE raw.n IS NULL OR rolled.n IS NULL OR raw.n <> rolled.n
    ORDER BY 1
$$;

-- Drop every raw day before p_keep_from: whole daily partitions, plus the rows of those
-- days that sit in the default partition. Refuses (raises, drops nothing) when any hour
-- of them is not rolled up and current. Dropping fires no trigger, so the rollups of the
-- dropped days stay as they are. Returns what went: {"partitions": [...], "default_rows": n}.
-- Its DROP needs a brief ACCESS EXCLUSIVE lock on agent_runs; while that waits, the
-- application's inserts queue behind it, so it gives up after 5 s (the task retries).
CREATE OR REPLACE FUNCTION ops.drop_expired_agent_runs(p_keep_from date)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp SET lock_timeout = '5s' AS $$
DECLARE
    keep_from timestamptz := p_keep_from::timestamp AT TIME ZONE 'UTC';
    -- Days before the last cleanup's horizon have no raw rows left to compare with.
    checked_from timestamptz := coalesce((SELECT raw_kept_from FROM ops.retention_state), '-infinity');
    part      record;
    dropped   text[] := '{}';
    stale     timestamptz[];
    n_default bigint;
BEGIN
    -- One cleanup at a time.
    PERFORM pg_advisory_xact_lock(7310004, 0);
    -- Lock out writers of the expiring rows (and rollups reading them) before checking, so
    -- nothing changes between the check and the drop.
    FOR part IN
        SELECT c.relname
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'public.agent_runs'::regclass
          AND c.relname ~ '^agent_runs_p[0-9]{8}$'
          AND to_date(substr(c.relname, 13), 'YYYYMMDD') < p_keep_from
        ORDER BY c.relname
    LOOP
        EXECUTE format('LOCK TABLE public.%I IN SHARE MODE', part.relname);
        dropped := dropped || part.relname;
    END LOOP;
    LOCK TABLE public.agent_runs_default IN SHARE MODE;

    SELECT array_agg(h) INTO stale
    FROM ops.hours_not_rolled_up(checked_from, keep_from) AS h;
    IF stale IS NOT NULL THEN
        RAISE EXCEPTION 'refusing to drop raw data before %: % hour(s) not rolled up, first %',
            p_keep_from, cardinality(stale), stale[1]
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    FOR i IN 1 .. coalesce(cardinality(dropped), 0) LOOP
        EXECUTE format('DROP TABLE public.%I', dropped[i]);
    END LOOP;
    DELETE FROM public.agent_runs_default WHERE started_at < keep_from;
    GET DIAGNOSTICS n_default = ROW_COUNT;
    -- Invalidations of hours that no longer have raw rows are moot.
    DELETE FROM ops.agent_runs_invalidations WHERE hour < keep_from;

    INSERT INTO ops.retention_state (id, raw_kept_from) VALUES (true, keep_from)
    ON CONFLICT (id) DO UPDATE SET raw_kept_from = greatest(ops.retention_state.raw_kept_from,
                                                            EXCLUDED.raw_kept_from),
                                   updated_at = now();
    RETURN jsonb_build_object('partitions', to_jsonb(dropped), 'default_rows', n_default);
END $$;

-- Partitions are created by the job role's runs too: run as the owner, safe search_path.
ALTER FUNCTION ops.ensure_agent_runs_partitions(date, date)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
-- The invalidation triggers write ops.agent_runs_invalidations whatever role the
-- application inserts as.
ALTER FUNCTION ops.log_agent_runs_inserted() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION ops.log_agent_runs_updated() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION ops.log_agent_runs_deleted() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION ops.log_agent_runs_truncated() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- ------------------------------------------------------------------ ownership
-- The owner role owns the schemas, raw table and partitions, rollups, views and functions
-- (SECURITY DEFINER functions act with their owner's rights).
GRANT CREATE ON SCHEMA public TO agent_warehouse_owner;
ALTER SCHEMA analytics OWNER TO agent_warehouse_owner;
ALTER SCHEMA ops OWNER TO agent_warehouse_owner;
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT n.nspname, c.relname, c.relkind
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'm', 'v')
          AND (n.nspname IN ('analytics', 'ops')
               OR (n.nspname = 'public' AND (c.relname = 'agent_runs' OR c.relname LIKE 'agent\_runs\_%')))
    LOOP
        EXECUTE format('ALTER %s %I.%I OWNER TO agent_warehouse_owner',
                       CASE r.relkind WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END,
                       r.nspname, r.relname);
    END LOOP;
    FOR r IN
        SELECT p.oid::regprocedure AS fn
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'ops'
    LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO agent_warehouse_owner', r.fn);
    END LOOP;
END $$;

-- ------------------------------------------------------------------ grants
-- Nobody but the job role may call the privileged functions.
REVOKE ALL ON FUNCTION ops.drop_expired_agent_runs(date) FROM PUBLIC;
REVOKE ALL ON FUNCTION ops.ensure_agent_runs_partitions(date, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION ops.refresh_dashboard_view(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.drop_expired_agent_runs(date) TO agent_warehouse_job;
GRANT EXECUTE ON FUNCTION ops.ensure_agent_runs_partitions(date, date) TO agent_warehouse_job;
GRANT EXECUTE ON FUNCTION ops.refresh_dashboard_view(text) TO agent_warehouse_job;

-- Job role: reads raw, reads and writes analytics and ops rows; no DDL anywhere.
GRANT USAGE ON SCHEMA public, analytics, ops TO agent_warehouse_job;
GRANT SELECT ON public.agent_runs TO agent_warehouse_job;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA analytics TO agent_warehouse_job;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ops TO agent_warehouse_job;
REVOKE INSERT, UPDATE, DELETE ON ops.schema_migrations FROM agent_warehouse_job;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA analytics, ops TO agent_warehouse_job;

-- Reader (dashboards): SELECT on analytics only.
GRANT USAGE ON SCHEMA analytics TO agent_warehouse_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO agent_warehouse_reader;

-- Tables later migrations create get the same grants, whether the migrations run as the
-- owner role or (as in the embedded set-up) as the current user.
DO $$
DECLARE
    creator text;
BEGIN
    FOREACH creator IN ARRAY ARRAY['agent_warehouse_owner', current_user] LOOP
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA analytics
                        GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO agent_warehouse_job', creator);
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA ops
                        GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO agent_warehouse_job', creator);
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA analytics, ops
                        GRANT USAGE, SELECT ON SEQUENCES TO agent_warehouse_job', creator);
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA analytics
                        GRANT SELECT ON TABLES TO agent_warehouse_reader', creator);
    END LOOP;
END $$;

-- No role gets DDL by default in public (PostgreSQL 15+ default; older clusters granted it).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
