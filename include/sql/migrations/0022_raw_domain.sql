-- The accepted domain of raw rows (issue 17, section 1): no value PostgreSQL accepts in a
-- column of public.agent_runs can stop a run or block another period.
--
-- A row is aggregated only when (README "Bad rows", docs/bad-rows.md):
--   started_at        in [2000-01-01, 2100-01-01) UTC              else invalid_started_at
--   status            queued, running, completed, failed, cancelled else unknown_status
--   runtime_seconds   NULL, 0, or in [1e-6, 1e9]                    else invalid_runtime
--   credits_consumed  NULL, 0, or in [1e-9, 1e15]                   else invalid_credits
-- The ceilings keep every sum finite at any grain (a bigint count of 1e9 s runtimes is at most
-- 9.2e27 s, far below the float limit; credits stay far below the numeric and float8 limits
-- that the health scores cast to). The floors keep every float product and quotient above
-- the underflow PostgreSQL raises as an error (PERCENTILE_CONT-style interpolation between
-- subnormal runtimes, the sketch's bucket values, a numeric credit of 1e-400 cast to float8)
-- and keep the runtime sketch's 0.9% relative bound meaningful.
--
-- Rows started outside the supported range have no hour a rollup could use (-infinity,
-- 4713 BC, year 294276, infinity): they live in two explicit partitions, so the default
-- partition never holds them (every new day partition's ATTACH scans it), are never logged
-- in the invalidation log (no hour to repair, no hour arithmetic on ±infinity), and are
-- counted live, per workspace, by the view ops.rejected_runs_out_of_range.

-- ------------------------------------------------------------ the supported range
-- IMMUTABLE constants: inlined and folded at plan time, so partition pruning and the planner's
-- estimates see plain timestamps.
CREATE OR REPLACE FUNCTION ops.agent_runs_supported_from()
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT timestamptz '2000-01-01 00:00:00+00'
$$;

CREATE OR REPLACE FUNCTION ops.agent_runs_supported_until()
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT timestamptz '2100-01-01 00:00:00+00'
$$;

-- The UTC clock hour of a start time, or NULL when it is outside the supported range.
CREATE OR REPLACE FUNCTION ops.agent_run_hour(started_at timestamptz)
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN started_at >= ops.agent_runs_supported_from()
                 AND started_at < ops.agent_runs_supported_until()
                THEN date_trunc('hour', started_at, 'UTC') END
$$;

-- ------------------------------------------------------------------ data rules
-- Why a row of a supported hour is unusable, or NULL when it is fine: the status first, then
-- the runtime, then the credits. NaN sorts above every number and Infinity in PostgreSQL, so
-- the upper bounds also exclude NaN and Infinity; `>= 0` excludes -Infinity and negatives
-- (-0 equals 0 and is accepted).
CREATE OR REPLACE FUNCTION ops.agent_run_defect(status text, runtime_seconds double precision, credits numeric)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN status IS NULL OR status NOT IN ('queued', 'running', 'completed', 'failed', 'cancelled')
            THEN 'unknown_status'
        WHEN NOT (runtime_seconds IS NULL OR runtime_seconds = 0
                  OR (runtime_seconds >= 1e-6::float8 AND runtime_seconds <= 1e9::float8))
            THEN 'invalid_runtime'
        WHEN NOT (credits IS NULL OR credits = 0 OR (credits >= 1e-9 AND credits <= 1e15))
            THEN 'invalid_credits'
    END
$$;

-- Exactly ops.agent_run_defect(...) IS NULL, as plain comparisons the planner can estimate
-- (migration 0019).
CREATE OR REPLACE FUNCTION ops.agent_run_usable(status text, runtime_seconds double precision, credits numeric)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT status IN ('queued', 'running', 'completed', 'failed', 'cancelled')
       AND (runtime_seconds IS NULL OR runtime_seconds = 0
            OR (runtime_seconds >= 1e-6::float8 AND runtime_seconds <= 1e9::float8))
       AND (credits IS NULL OR credits = 0 OR (credits >= 1e-9 AND credits <= 1e15))
$$;

-- The whole rule, start time included (for operators and checks; the hourly step reads only
-- supported hours and asks the three-argument form).
CREATE OR REPLACE FUNCTION ops.agent_run_defect(started_at timestamptz, status text,
                                                runtime_seconds double precision, credits numeric)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN ops.agent_run_hour(started_at) IS NULL THEN 'invalid_started_at'
                ELSE ops.agent_run_defect(status, runtime_seconds, credits) END
$$;

-- ------------------------------------------------- partitions for unsupported start times
-- Built standalone, filled from the default partition, then attached: the default partition
-- holds none of their range afterwards, which ATTACH requires. Moving rows between partitions
-- fires no trigger on agent_runs (the rows are not new to the rollups). If a day partition
-- already covers part of a range, the ATTACH fails and names it: drop or detach it first.
DO $$
BEGIN
    IF to_regclass('public.agent_runs_before_range') IS NULL THEN
        CREATE TABLE public.agent_runs_before_range
            (LIKE public.agent_runs INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
        WITH moved AS (DELETE FROM public.agent_runs_default
                       WHERE started_at < ops.agent_runs_supported_from() RETURNING *)
        INSERT INTO public.agent_runs_before_range SELECT * FROM moved;
        ALTER TABLE public.agent_runs ATTACH PARTITION public.agent_runs_before_range
            FOR VALUES FROM (MINVALUE) TO ('2000-01-01 00:00:00+00');
    END IF;
    IF to_regclass('public.agent_runs_after_range') IS NULL THEN
        CREATE TABLE public.agent_runs_after_range
            (LIKE public.agent_runs INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
        WITH moved AS (DELETE FROM public.agent_runs_default
                       WHERE started_at >= ops.agent_runs_supported_until() RETURNING *)
        INSERT INTO public.agent_runs_after_range SELECT * FROM moved;
        ALTER TABLE public.agent_runs ATTACH PARTITION public.agent_runs_after_range
            FOR VALUES FROM ('2100-01-01 00:00:00+00') TO (MAXVALUE);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'agent_warehouse_owner') THEN
        ALTER TABLE public.agent_runs_before_range OWNER TO agent_warehouse_owner;
        ALTER TABLE public.agent_runs_after_range OWNER TO agent_warehouse_owner;
    END IF;
END $$;

-- ------------------------------------------------------------ counted, never rolled up
-- Rows started outside the supported range, per workspace: always current (read live, from the
-- two partitions above only). Start times as text: ±infinity and BC dates have no value in
-- most client languages.
CREATE OR REPLACE VIEW ops.rejected_runs_out_of_range AS
SELECT workspace_id,
       'invalid_started_at'::text AS reason,
       count(*) AS row_count,
       min(started_at)::text AS earliest_started_at,
       max(started_at)::text AS latest_started_at
FROM public.agent_runs
WHERE started_at < ops.agent_runs_supported_from() OR started_at >= ops.agent_runs_supported_until()
GROUP BY workspace_id;

-- Every rejected row in one place: per hour (ops.rejected_runs_hourly), and with no hour
-- (NULL) for start times outside the supported range.
CREATE OR REPLACE VIEW ops.rejected_runs AS
SELECT hour, workspace_id, reason, row_count FROM ops.rejected_runs_hourly
UNION ALL
SELECT NULL::timestamptz, workspace_id, reason, row_count FROM ops.rejected_runs_out_of_range;

-- ------------------------------------------------- the invalidation log: supported hours only
-- As migrations 0001 and 0003 (statement triggers, owner's rights), without the hours that are
-- outside the supported range: such a row has no hour to roll up, and ±infinity or a BC hour
-- would reach Python (which has no such datetime) and hour arithmetic.
CREATE OR REPLACE FUNCTION ops.log_agent_runs_inserted() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO ops.agent_runs_invalidations (hour)
    SELECT DISTINCT ops.agent_run_hour(started_at) FROM new_rows
    WHERE ops.agent_run_hour(started_at) IS NOT NULL;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION ops.log_agent_runs_updated() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO ops.agent_runs_invalidations (hour)
    SELECT h FROM (SELECT ops.agent_run_hour(started_at) AS h FROM old_rows
                   UNION
                   SELECT ops.agent_run_hour(started_at) FROM new_rows) c
    WHERE h IS NOT NULL;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION ops.log_agent_runs_deleted() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO ops.agent_runs_invalidations (hour)
    SELECT DISTINCT ops.agent_run_hour(started_at) FROM old_rows
    WHERE ops.agent_run_hour(started_at) IS NOT NULL;
    RETURN NULL;
END $$;

-- Hourly partials changed: their days must be recomputed (migration 0012), for supported
-- hours only (a day outside the range has nothing to roll up).
CREATE OR REPLACE FUNCTION ops.log_hourly_rollup_changed() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO ops.rollup_invalidations (grain, period)
    SELECT DISTINCT 'day', (h.hour AT TIME ZONE 'UTC')::date
    FROM (SELECT DISTINCT hour FROM changed_rows) h
    WHERE h.hour >= coalesce((SELECT raw_kept_from FROM ops.retention_state), '-infinity')
      AND ops.agent_run_hour(h.hour) IS NOT NULL;
    RETURN NULL;
END $$;

-- ------------------------------------------------------- what the old rules left behind
-- Entries and rollups of hours outside the range (±infinity, year 1 or 2200 rows logged or
-- rolled up before this migration): those rows are counted by the view now.
DELETE FROM ops.agent_runs_invalidations WHERE ops.agent_run_hour(hour) IS NULL;
DELETE FROM ops.hours_rolled_up WHERE ops.agent_run_hour(hour) IS NULL;
DELETE FROM analytics.execution_metrics_hourly WHERE ops.agent_run_hour(hour) IS NULL;
DELETE FROM analytics.runtime_sketch_hourly WHERE ops.agent_run_hour(hour) IS NULL;
DELETE FROM analytics.user_activity_hourly WHERE ops.agent_run_hour(hour) IS NULL;
DELETE FROM analytics.workspace_activity_hourly WHERE ops.agent_run_hour(hour) IS NULL;
DELETE FROM ops.rejected_runs_hourly WHERE ops.agent_run_hour(hour) IS NULL;
DELETE FROM ops.rollup_invalidations
WHERE ops.agent_run_hour(period::timestamp AT TIME ZONE 'UTC') IS NULL;

-- Hours whose rows the new ceilings and floors reject (1e308 runtimes, huge or tiny credits)
-- are recomputed by the next hourly run; their days and weeks follow.
INSERT INTO ops.agent_runs_invalidations (hour)
SELECT DISTINCT date_trunc('hour', started_at, 'UTC')
FROM public.agent_runs
WHERE started_at >= ops.agent_runs_supported_from() AND started_at < ops.agent_runs_supported_until()
  AND status IN ('queued', 'running', 'completed', 'failed', 'cancelled')
  AND ((runtime_seconds > 0 AND runtime_seconds < 1e-6::float8) OR runtime_seconds > 1e9::float8
       OR (credits_consumed > 0 AND credits_consumed < 1e-9) OR credits_consumed > 1e15);

-- ------------------------------------------------------------------------ ownership
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'agent_warehouse_owner') THEN
        ALTER FUNCTION ops.agent_runs_supported_from() OWNER TO agent_warehouse_owner;
        ALTER FUNCTION ops.agent_runs_supported_until() OWNER TO agent_warehouse_owner;
        ALTER FUNCTION ops.agent_run_hour(timestamptz) OWNER TO agent_warehouse_owner;
        ALTER FUNCTION ops.agent_run_defect(timestamptz, text, double precision, numeric)
            OWNER TO agent_warehouse_owner;
        ALTER VIEW ops.rejected_runs_out_of_range OWNER TO agent_warehouse_owner;
        ALTER VIEW ops.rejected_runs OWNER TO agent_warehouse_owner;
    END IF;
END $$;
