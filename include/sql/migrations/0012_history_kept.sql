-- History kept for ever (issue 10, items 1, 4 and 6).
--
-- 1. Retention deletions never count as changes, and a period whose inputs have expired
--    is kept as it is by any run, rerun or backfill:
--    - the hourly tables' triggers ignore hours whose raw rows were dropped;
--    - hourly rollups are deleted by an owner function that records how far they are
--      gone (ops.retention_state.hourly_kept_from) and never goes past a day or week that
--      still waits for its recompute, so a period is current before it becomes final;
--    - ops.keep_expired_period(), the guard at the top of rollup_hour/day/week.sql, sets a
--      transaction-local flag when the period is past retention; row triggers on every
--      table those scripts write then skip each write, so the rest of the script changes
--      nothing, whoever runs it (a DAG's SQL operator, a Python caller, a backfill).
-- 4. Weeks are invalidated by changes to their input, the daily rows, in the transaction
--    that changes them (before: by hourly changes, which a weekly run could consume while
--    reading days that did not contain them yet).
-- 6. Infinite credits are bad rows.

-- ------------------------------------------------------------------ item 6: data rules
CREATE OR REPLACE FUNCTION ops.agent_run_defect(status text, runtime_seconds double precision, credits numeric)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN status IS NULL OR status NOT IN ('queued', 'running', 'completed', 'failed', 'cancelled')
            THEN 'unknown_status'
        -- -Infinity is < 0; NaN compares equal to itself in PostgreSQL.
        WHEN runtime_seconds < 0 OR runtime_seconds = 'NaN'::float8 OR runtime_seconds = 'Infinity'::float8
            THEN 'invalid_runtime'
        WHEN credits < 0 OR credits = 'NaN'::numeric OR credits = 'Infinity'::numeric
            THEN 'invalid_credits'
    END
$$;

-- ------------------------------------------------------------ retention horizons
-- Hourly rollups before this instant have been deleted (set by ops.delete_expired_hourly).
ALTER TABLE ops.retention_state ADD COLUMN IF NOT EXISTS hourly_kept_from timestamptz;

-- Why the period [p_start, p_start + 1 grain) is past retention, or NULL when it can
-- still be computed from its inputs:
--   hour: its raw rows were dropped (before raw_kept_from);
--   day:  its hourly partials were deleted (before hourly_kept_from);
--   week: its days are all past retention and it was rolled up before (a week never
--         rolled up is computed once from its daily rows, which are kept for ever).
-- Hours, not days, are added: the session's time zone must not move a UTC period.
CREATE OR REPLACE FUNCTION ops.period_past_retention(p_grain text, p_start timestamptz)
RETURNS text LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE
        WHEN p_grain = 'hour' AND p_start < s.raw_kept_from
            THEN format('hour %s is past retention (raw rows kept from %s)',
                        to_char(p_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                        to_char(s.raw_kept_from AT TIME ZONE 'UTC', 'YYYY-MM-DD'))
        WHEN p_grain = 'day' AND p_start + interval '24 hours' <= s.hourly_kept_from
            THEN format('day %s is past retention (hourly rollups kept from %s)',
                        to_char(p_start AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
                        to_char(s.hourly_kept_from AT TIME ZONE 'UTC', 'YYYY-MM-DD'))
        WHEN p_grain = 'week' AND p_start + interval '168 hours' <= s.hourly_kept_from
             AND EXISTS (SELECT 1 FROM ops.periods_rolled_up r
                         WHERE r.grain = 'week' AND r.period = (p_start AT TIME ZONE 'UTC')::date)
            THEN format('week %s is past retention (hourly rollups kept from %s)',
                        to_char(p_start AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
                        to_char(s.hourly_kept_from AT TIME ZONE 'UTC', 'YYYY-MM-DD'))
    END
    FROM (SELECT (SELECT raw_kept_from FROM ops.retention_state) AS raw_kept_from,
                 (SELECT hourly_kept_from FROM ops.retention_state) AS hourly_kept_from) s
$$;

-- The guard at the top of rollup_hour.sql, rollup_day.sql and rollup_week.sql (after the
-- period's advisory lock). Returns NULL when the period is to be computed; otherwise the
-- message (also sent as a NOTICE, which the DAG's SQL operator logs), after setting the
-- transaction-local flag agent_warehouse.keep_period that makes every later write of the
-- transaction to a rollup table a no-op. The retention row is read FOR SHARE: a cleanup
-- moving a horizon waits for this transaction, or this one sees the new horizon.
CREATE OR REPLACE FUNCTION ops.keep_expired_period(p_grain text, p_start timestamptz)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    why text;
BEGIN
    PERFORM 1 FROM ops.retention_state FOR SHARE;
    why := ops.period_past_retention(p_grain, p_start);
    IF why IS NOT NULL THEN
        why := why || ': its rollups were kept as they are, nothing recomputed';
        PERFORM set_config('agent_warehouse.keep_period', 'on', true);
        RAISE NOTICE '%', why;
    END IF;
    RETURN why;
END $$;

CREATE OR REPLACE FUNCTION ops.skip_write_of_kept_period() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RETURN NULL;  -- BEFORE ROW: the row is neither inserted, updated nor deleted
END $$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'analytics.execution_metrics_hourly', 'analytics.runtime_sketch_hourly',
        'analytics.user_activity_hourly', 'analytics.workspace_activity_hourly',
        'ops.rejected_runs_hourly', 'ops.hours_rolled_up',
        'analytics.execution_metrics_daily', 'analytics.runtime_sketch_daily',
        'analytics.user_activity_daily', 'analytics.workspace_activity_daily',
        'analytics.execution_metrics_weekly', 'analytics.runtime_sketch_weekly',
        'analytics.workspace_activity_weekly', 'ops.periods_rolled_up'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS keep_expired_period ON %s', t);
        -- The WHEN clause is evaluated without calling the function: next to no cost
        -- per row when the flag is off.
        EXECUTE format('CREATE TRIGGER keep_expired_period BEFORE INSERT OR UPDATE OR DELETE ON %s '
                       'FOR EACH ROW WHEN (current_setting(''agent_warehouse.keep_period'', true) = ''on'') '
                       'EXECUTE FUNCTION ops.skip_write_of_kept_period()', t);
    END LOOP;
END $$;

-- ------------------------------------------- invalidations: what changed, not what expired
-- Hourly partials changed: their days must be recomputed. Hours whose raw rows are gone
-- can only change by retention (their rollups are deleted) or not at all (the guard):
-- never a change to roll up.
CREATE OR REPLACE FUNCTION ops.log_hourly_rollup_changed() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO ops.rollup_invalidations (grain, period)
    SELECT DISTINCT 'day', (h.hour AT TIME ZONE 'UTC')::date
    FROM (SELECT DISTINCT hour FROM changed_rows) h
    WHERE h.hour >= coalesce((SELECT raw_kept_from FROM ops.retention_state), '-infinity');
    RETURN NULL;
END $$;

-- Daily rows changed: their weeks must be recomputed. Logged in the transaction that
-- changes the daily rows the week reads, so a weekly rollup that deletes an entry sees
-- the change behind it in the statements that follow.
CREATE OR REPLACE FUNCTION ops.log_daily_rollup_changed() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO ops.rollup_invalidations (grain, period)
    SELECT DISTINCT 'week', d.day - (extract(isodow FROM d.day)::integer - 1)
    FROM (SELECT DISTINCT day FROM changed_rows) d;
    RETURN NULL;
END $$;

DO $$
DECLARE
    t text;
BEGIN
    -- The daily tables rollup_week.sql reads.
    FOREACH t IN ARRAY ARRAY['execution_metrics_daily', 'runtime_sketch_daily', 'user_activity_daily'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON analytics.%I', t || '_log_insert', t);
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON analytics.%I REFERENCING NEW TABLE AS changed_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION ops.log_daily_rollup_changed()', t || '_log_insert', t);
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON analytics.%I', t || '_log_update', t);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON analytics.%I REFERENCING NEW TABLE AS changed_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION ops.log_daily_rollup_changed()', t || '_log_update', t);
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON analytics.%I', t || '_log_delete', t);
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON analytics.%I REFERENCING OLD TABLE AS changed_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION ops.log_daily_rollup_changed()', t || '_log_delete', t);
    END LOOP;
END $$;

-- Week entries logged from hourly changes before this migration: their days are logged
-- too, and recomputing those days logs the weeks again. Keep them; they are consumed by
-- the next weekly run like any other.

-- ----------------------------------------------------------- expiring hourly rollups
-- Delete hourly rollups and rejected-row counts before p_before, but never past the raw
-- horizon (hourly rows outlive their raw rows) nor past a day or week still waiting in
-- the invalidation log (it must be current before its inputs go). Records the horizon
-- reached in ops.retention_state.hourly_kept_from. Runs as the owner: the job role calls
-- it and cannot move the horizon past what was actually deleted.
CREATE OR REPLACE FUNCTION ops.delete_expired_hourly(p_before timestamptz)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st      record;
    cutoff  timestamptz;
    n_rows  bigint := 0;
    n_rej   bigint := 0;
    n       bigint;
BEGIN
    -- The row lock orders this against the guards of running rollups (FOR SHARE).
    SELECT raw_kept_from, hourly_kept_from INTO st FROM ops.retention_state FOR UPDATE;
    IF NOT FOUND THEN  -- no raw day was ever dropped: every hourly row is still needed
        RETURN jsonb_build_object('hourly_rows', 0, 'rejected_rows', 0, 'hourly_kept_from', NULL);
    END IF;
    cutoff := least(p_before, st.raw_kept_from,
                    (SELECT min(period)::timestamp AT TIME ZONE 'UTC' FROM ops.rollup_invalidations));
    IF cutoff > coalesce(st.hourly_kept_from, '-infinity') THEN
        DELETE FROM analytics.execution_metrics_hourly WHERE hour < cutoff;
        GET DIAGNOSTICS n = ROW_COUNT; n_rows := n_rows + n;
        DELETE FROM analytics.runtime_sketch_hourly WHERE hour < cutoff;
        GET DIAGNOSTICS n = ROW_COUNT; n_rows := n_rows + n;
        DELETE FROM analytics.user_activity_hourly WHERE hour < cutoff;
        GET DIAGNOSTICS n = ROW_COUNT; n_rows := n_rows + n;
        DELETE FROM analytics.workspace_activity_hourly WHERE hour < cutoff;
        GET DIAGNOSTICS n = ROW_COUNT; n_rows := n_rows + n;
        DELETE FROM ops.rejected_runs_hourly WHERE hour < cutoff;
        GET DIAGNOSTICS n_rej = ROW_COUNT;
        UPDATE ops.retention_state SET hourly_kept_from = cutoff, updated_at = now();
    END IF;
    RETURN jsonb_build_object('hourly_rows', n_rows, 'rejected_rows', n_rej,
                              'hourly_kept_from', (SELECT hourly_kept_from FROM ops.retention_state));
END $$;

-- Deployments that already deleted hourly rollups: their horizon is the first day with
-- hourly rows left (never past the raw horizon). Entries the old triggers logged for days
-- and weeks now past retention describe deletions, not changes: drop them.
UPDATE ops.retention_state
SET hourly_kept_from = least(raw_kept_from,
                             coalesce((SELECT date_trunc('day', min(hour), 'UTC') FROM analytics.execution_metrics_hourly),
                                      raw_kept_from))
WHERE hourly_kept_from IS NULL;
DELETE FROM ops.rollup_invalidations
WHERE ops.period_past_retention(grain, period::timestamp AT TIME ZONE 'UTC') IS NOT NULL;

-- ------------------------------------------------------------ ownership and grants
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'agent_warehouse_owner') THEN
        ALTER FUNCTION ops.period_past_retention(text, timestamptz) OWNER TO agent_warehouse_owner;
        ALTER FUNCTION ops.keep_expired_period(text, timestamptz) OWNER TO agent_warehouse_owner;
        ALTER FUNCTION ops.skip_write_of_kept_period() OWNER TO agent_warehouse_owner;
        ALTER FUNCTION ops.log_hourly_rollup_changed() OWNER TO agent_warehouse_owner;
        ALTER FUNCTION ops.log_daily_rollup_changed() OWNER TO agent_warehouse_owner;
        ALTER FUNCTION ops.delete_expired_hourly(timestamptz) OWNER TO agent_warehouse_owner;
    END IF;
END $$;
REVOKE ALL ON FUNCTION ops.delete_expired_hourly(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.delete_expired_hourly(timestamptz) TO agent_warehouse_job;
