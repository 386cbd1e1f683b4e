-- The job role cannot make owner functions destroy or skip data (issue 17, section 4), and
-- jobs take their locks in one order (section 5). docs/locking.md and docs/retention.md.
--
-- 1. Bookkeeping belongs to the owner. Consuming an invalidation log (raw hours, days,
--    weeks) and recording a period as rolled up happen only in ops.begin_rollup and
--    ops.finish_rollup, which take the period's lock themselves. The job role may no longer
--    write ops.agent_runs_invalidations, ops.hours_rolled_up, ops.rollup_invalidations or
--    ops.periods_rolled_up (the row policies of migration 0013 trusted a lock the role can
--    take itself). A transaction that began a rollup cannot commit without finishing it, and
--    finishing checks that the period's rollup accounts for every input row (per workspace);
--    otherwise the period is logged as changed again instead of being recorded.
-- 2. A write to a rollup table outside its period's rollup logs the period as changed, so no
--    direct write can make an hour, day or week look current.
-- 3. ops.retention_policy, the owner's: the fewest days of raw and hourly rows every cleanup
--    keeps whatever it is asked, and the window around today in which the job role may create
--    raw partitions.
-- 4. The cleanup's drop locks ops.retention_state before agent_runs, the order every rollup
--    takes them in, so a rollup and the drop wait for each other instead of deadlocking.

-- ------------------------------------------------------------ retention policy
CREATE TABLE IF NOT EXISTS ops.retention_policy (
    id                   boolean PRIMARY KEY DEFAULT true CHECK (id),
    min_raw_days         integer NOT NULL DEFAULT 90 CHECK (min_raw_days >= 1),
    min_hourly_days      integer NOT NULL DEFAULT 90 CHECK (min_hourly_days >= 1),
    partition_days_back  integer NOT NULL DEFAULT 90 CHECK (partition_days_back >= 0),
    partition_days_ahead integer NOT NULL DEFAULT 31 CHECK (partition_days_ahead >= 0),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
INSERT INTO ops.retention_policy (id) VALUES (true) ON CONFLICT (id) DO NOTHING;

-- The policy as one record, its defaults if the row is gone (an owner may delete it).
CREATE OR REPLACE FUNCTION ops.current_retention_policy(
    OUT min_raw_days integer, OUT min_hourly_days integer,
    OUT partition_days_back integer, OUT partition_days_ahead integer
) LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(max(p.min_raw_days), 90), coalesce(max(p.min_hourly_days), 90),
           coalesce(max(p.partition_days_back), 90), coalesce(max(p.partition_days_ahead), 31)
    FROM ops.retention_policy p
$$;

-- Today in UTC, whatever the session's time zone.
CREATE OR REPLACE FUNCTION ops.utc_today()
RETURNS date LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
    SELECT (now() AT TIME ZONE 'UTC')::date
$$;

-- ------------------------------------------------------------ periods and their locks
-- The advisory lock of a rollup period (the keys of the registry, migration 0013), after
-- checking that p_start starts a UTC hour, day or ISO week.
CREATE OR REPLACE FUNCTION ops.lock_rollup_period(p_grain text, p_start timestamptz)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d date := (p_start AT TIME ZONE 'UTC')::date;
BEGIN
    IF p_start IS NULL OR NOT isfinite(p_start) OR p_grain IS NULL
       OR p_grain NOT IN ('hour', 'day', 'week')
       OR p_start <> date_trunc(p_grain, p_start, 'UTC') THEN
        RAISE EXCEPTION 'no % period starts at %', p_grain, p_start USING ERRCODE = 'invalid_parameter_value';
    END IF;
    CASE p_grain
        WHEN 'hour' THEN
            PERFORM pg_advisory_xact_lock(ops.lock_key('rollup_hour'), (extract(EPOCH FROM p_start) / 3600)::integer);
        WHEN 'day' THEN
            PERFORM pg_advisory_xact_lock(ops.lock_key('rollup_day'), d - date '2000-01-01');
        ELSE
            PERFORM pg_advisory_xact_lock(ops.lock_key('rollup_week'), (d - date '2000-01-03') / 7);
    END CASE;
END $$;

-- ------------------------------------------------------------ rollups in progress
-- One row per rollup begun and not yet finished, in the transaction running it. The row is
-- deleted by ops.finish_rollup; a deferred constraint trigger refuses to commit while it is
-- still there, so a log consumed by ops.begin_rollup is never committed without its result.
CREATE TABLE IF NOT EXISTS ops.rollups_open (
    grain  text NOT NULL,
    period timestamptz NOT NULL,
    xid    xid8 NOT NULL DEFAULT pg_current_xact_id()
);

CREATE OR REPLACE FUNCTION ops.refuse_unfinished_rollup() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM ops.rollups_open o
               WHERE o.xid = NEW.xid AND o.grain = NEW.grain AND o.period = NEW.period) THEN
        RAISE EXCEPTION 'the % rollup of % consumed its invalidations but was not finished '
                        '(ops.finish_rollup); nothing was committed', NEW.grain, NEW.period
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS rollups_open_finished ON ops.rollups_open;
CREATE CONSTRAINT TRIGGER rollups_open_finished AFTER INSERT ON ops.rollups_open
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ops.refuse_unfinished_rollup();

-- Whether this transaction has begun (and not yet finished) the rollup of each period.
CREATE OR REPLACE FUNCTION ops.rollup_is_open(p_grain text, p_period timestamptz)
RETURNS boolean LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM ops.rollups_open o
                   WHERE o.xid = pg_current_xact_id() AND o.grain = p_grain AND o.period = p_period)
$$;

-- ------------------------------------------------------------ begin and finish
-- Right after the guard (ops.keep_expired_period) of rollup_hour/day/week.sql: take the
-- period's lock, consume its invalidation entries (only those committed before this
-- statement, whose changes the script's reads then see), and mark the rollup open. Returns
-- the entries consumed.
CREATE OR REPLACE FUNCTION ops.begin_rollup(p_grain text, p_start timestamptz)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM ops.lock_rollup_period(p_grain, p_start);
    IF p_grain = 'hour' THEN
        DELETE FROM ops.agent_runs_invalidations WHERE hour = p_start;
    ELSE
        DELETE FROM ops.rollup_invalidations
        WHERE grain = p_grain AND period = (p_start AT TIME ZONE 'UTC')::date;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM ops.rollups_open WHERE xid = pg_current_xact_id() AND grain = p_grain AND period = p_start;
    INSERT INTO ops.rollups_open (grain, period) VALUES (p_grain, p_start);
    RETURN n;
END $$;

-- Input rows per workspace that the period's rollup does not account for: an hour's raw rows
-- against its usable (execution_metrics_hourly) plus rejected (ops.rejected_runs_hourly)
-- rows; a day's hourly counts against the daily row; a week's daily counts against the
-- weekly row. Empty when the rollup counts every input row.
CREATE OR REPLACE FUNCTION ops.rollup_count_mismatches(p_grain text, p_start timestamptz)
RETURNS TABLE (workspace_id uuid, inputs bigint, counted bigint) LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
    WITH inputs AS (
        SELECT a.workspace_id, count(*)::bigint AS n
        FROM public.agent_runs a
        WHERE p_grain = 'hour' AND a.started_at >= p_start AND a.started_at < p_start + interval '1 hour'
        GROUP BY 1
        UNION ALL
        SELECT h.workspace_id, sum(h.total_executions)::bigint
        FROM analytics.execution_metrics_hourly h
        WHERE p_grain = 'day' AND h.hour >= p_start AND h.hour < p_start + interval '24 hours'
        GROUP BY 1
        UNION ALL
        SELECT d.workspace_id, sum(d.total_executions)::bigint
        FROM analytics.execution_metrics_daily d
        WHERE p_grain = 'week' AND d.day >= (p_start AT TIME ZONE 'UTC')::date
          AND d.day < (p_start AT TIME ZONE 'UTC')::date + 7
        GROUP BY 1
    ), counted AS (
        SELECT x.workspace_id, sum(x.n)::bigint AS n
        FROM (SELECT h.workspace_id, h.total_executions AS n FROM analytics.execution_metrics_hourly h
              WHERE p_grain = 'hour' AND h.hour = p_start
              UNION ALL
              SELECT r.workspace_id, r.row_count FROM ops.rejected_runs_hourly r
              WHERE p_grain = 'hour' AND r.hour = p_start
              UNION ALL
              SELECT d.workspace_id, d.total_executions FROM analytics.execution_metrics_daily d
              WHERE p_grain = 'day' AND d.day = (p_start AT TIME ZONE 'UTC')::date
              UNION ALL
              SELECT w.workspace_id, w.total_executions FROM analytics.execution_metrics_weekly w
              WHERE p_grain = 'week' AND w.week_start = (p_start AT TIME ZONE 'UTC')::date) x
        GROUP BY 1
    )
    SELECT coalesce(i.workspace_id, c.workspace_id), i.n, c.n
    FROM inputs i FULL JOIN counted c ON c.workspace_id = i.workspace_id
    WHERE i.n IS DISTINCT FROM c.n
$$;

-- At the end of the script, after every write: close the rollup begun in this transaction
-- and record the period as rolled up, if its rollup accounts for every input row. If not (a
-- write committed meanwhile, or nothing was recomputed), the period is logged as changed
-- again, so the next run recomputes it and the cleanup keeps its inputs until then. A period
-- past retention is kept as it is: nothing recorded. Returns whether it was recorded.
CREATE OR REPLACE FUNCTION ops.finish_rollup(p_grain text, p_start timestamptz)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    day date := (p_start AT TIME ZONE 'UTC')::date;
    off integer;
BEGIN
    PERFORM ops.lock_rollup_period(p_grain, p_start);
    DELETE FROM ops.rollups_open WHERE xid = pg_current_xact_id() AND grain = p_grain AND period = p_start;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no % rollup of % was begun in this transaction (ops.begin_rollup)', p_grain, p_start
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF ops.period_past_retention(p_grain, p_start) IS NOT NULL THEN
        RETURN false;
    END IF;
    SELECT count(*) INTO off FROM ops.rollup_count_mismatches(p_grain, p_start);
    IF off > 0 THEN
        IF p_grain = 'hour' THEN
            INSERT INTO ops.agent_runs_invalidations (hour) VALUES (p_start);
        ELSE
            INSERT INTO ops.rollup_invalidations (grain, period) VALUES (p_grain, day);
        END IF;
        RAISE NOTICE '% % not recorded as rolled up: % workspace(s) whose rows it does not count; logged for the next run',
            p_grain, p_start, off;
        RETURN false;
    END IF;
    IF p_grain = 'hour' THEN
        INSERT INTO ops.hours_rolled_up (hour) VALUES (p_start)
        ON CONFLICT (hour) DO UPDATE SET rolled_at = EXCLUDED.rolled_at;
    ELSE
        INSERT INTO ops.periods_rolled_up (grain, period) VALUES (p_grain, day)
        ON CONFLICT (grain, period) DO UPDATE SET rolled_at = EXCLUDED.rolled_at;
    END IF;
    RETURN true;
END $$;

-- ------------------------------------------- writes outside a period's rollup
-- A rollup table written outside its period's rollup (begin_rollup ... finish_rollup in the
-- same transaction): the period is logged as changed, so it is recomputed before anything
-- relies on it (the cleanup's drop, the hourly horizon). Periods past retention are final and
-- not logged, so the cleanup's own deletes (before the horizons) log nothing.
-- TG_ARGV: the grain and the table's period column (a date column is read as its UTC midnight).
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
        EXECUTE format('INSERT INTO ops.agent_runs_invalidations (hour)
                        SELECT p FROM (%s) AS x(p)
                        WHERE ops.period_past_retention(''hour'', p) IS NULL
                          AND NOT ops.rollup_is_open(''hour'', p)', q);
    ELSE
        EXECUTE format('INSERT INTO ops.rollup_invalidations (grain, period)
                        SELECT %1$L, (p AT TIME ZONE ''UTC'')::date FROM (%2$s) AS x(p)
                        WHERE ops.period_past_retention(%1$L, p) IS NULL
                          AND NOT ops.rollup_is_open(%1$L, p)', grain, q);
    END IF;
    RETURN NULL;
END $$;

DO $$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT * FROM (VALUES
            ('analytics', 'execution_metrics_hourly', 'hour', 'hour'),
            ('analytics', 'runtime_sketch_hourly', 'hour', 'hour'),
            ('analytics', 'user_activity_hourly', 'hour', 'hour'),
            ('analytics', 'workspace_activity_hourly', 'hour', 'hour'),
            ('ops', 'rejected_runs_hourly', 'hour', 'hour'),
            ('analytics', 'execution_metrics_daily', 'day', 'day'),
            ('analytics', 'runtime_sketch_daily', 'day', 'day'),
            ('analytics', 'user_activity_daily', 'day', 'day'),
            ('analytics', 'workspace_activity_daily', 'day', 'day'),
            ('analytics', 'execution_metrics_weekly', 'week', 'week_start'),
            ('analytics', 'runtime_sketch_weekly', 'week', 'week_start'),
            ('analytics', 'workspace_activity_weekly', 'week', 'week_start')) AS v(nsp, tbl, grain, col)
    LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I.%I', t.tbl || '_outside_insert', t.nsp, t.tbl);
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I.%I REFERENCING NEW TABLE AS changed_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION ops.log_rollup_table_written(%L, %L)',
                       t.tbl || '_outside_insert', t.nsp, t.tbl, t.grain, t.col);
        -- An update can move a row to another period: both are logged (old rows here, new
        -- rows by the insert-side trigger below).
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I.%I', t.tbl || '_outside_update_old', t.nsp, t.tbl);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I.%I REFERENCING OLD TABLE AS changed_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION ops.log_rollup_table_written(%L, %L)',
                       t.tbl || '_outside_update_old', t.nsp, t.tbl, t.grain, t.col);
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I.%I', t.tbl || '_outside_update_new', t.nsp, t.tbl);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I.%I REFERENCING NEW TABLE AS changed_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION ops.log_rollup_table_written(%L, %L)',
                       t.tbl || '_outside_update_new', t.nsp, t.tbl, t.grain, t.col);
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I.%I', t.tbl || '_outside_delete', t.nsp, t.tbl);
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I.%I REFERENCING OLD TABLE AS changed_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION ops.log_rollup_table_written(%L, %L)',
                       t.tbl || '_outside_delete', t.nsp, t.tbl, t.grain, t.col);
    END LOOP;
END $$;

-- ------------------------------------------------------------ the logs are the owner's
DROP POLICY IF EXISTS job_consumes_rolled_hour ON ops.agent_runs_invalidations;
DROP POLICY IF EXISTS job_records_rolled_hour ON ops.hours_rolled_up;
DROP POLICY IF EXISTS job_rerecords_rolled_hour ON ops.hours_rolled_up;
DROP FUNCTION IF EXISTS ops.hours_locked_for_rollup();
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ops.agent_runs_invalidations, ops.hours_rolled_up,
    ops.rollup_invalidations, ops.periods_rolled_up, ops.retention_state, ops.retention_policy,
    ops.rollups_open FROM agent_warehouse_job;
REVOKE SELECT ON ops.rollups_open FROM agent_warehouse_job;
GRANT SELECT ON ops.agent_runs_invalidations, ops.hours_rolled_up, ops.rollup_invalidations,
    ops.periods_rolled_up, ops.retention_state, ops.retention_policy TO agent_warehouse_job;

-- ------------------------------------------------------------ partitions near today
-- Any days, for the owner (a historical load, in a quiet moment): the body of migration 0013's
-- ops.ensure_agent_runs_partitions, unchanged.
CREATE OR REPLACE FUNCTION ops.create_agent_runs_partitions(p_from date, p_to date)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    max_rows bigint := coalesce(nullif(current_setting('agent_warehouse.partition_move_max_rows', true), '')::bigint, 100000);
    missing  date[];
    todo     date[] := '{}';
    d        date;
    part     text;
    lo       timestamptz;
    hi       timestamptz;
    n        bigint;
    created  integer := 0;
BEGIN
    SELECT array_agg(g.d::date ORDER BY g.d) INTO missing
    FROM generate_series(p_from, p_to - 1, interval '1 day') AS g(d)
    WHERE to_regclass(format('public.%I', 'agent_runs_p' || to_char(g.d, 'YYYYMMDD'))) IS NULL;
    IF missing IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM pg_advisory_xact_lock(ops.lock_key('agent_runs_ddl'), 0);
    FOREACH d IN ARRAY missing LOOP
        part := 'agent_runs_p' || to_char(d, 'YYYYMMDD');
        CONTINUE WHEN to_regclass(format('public.%I', part)) IS NOT NULL;
        lo := d::timestamp AT TIME ZONE 'UTC';
        hi := (d + 1)::timestamp AT TIME ZONE 'UTC';
        SELECT count(*) INTO n FROM public.agent_runs_default WHERE started_at >= lo AND started_at < hi;
        IF n > max_rows THEN
            RAISE WARNING 'agent_runs: % rows of % sit in the default partition (more than % to move under a '
                          'short lock); the day stays there. To partition it in a quiet moment: '
                          'SET agent_warehouse.partition_move_max_rows = %; SELECT ops.ensure_agent_runs_partitions(%, %)',
                          n, d, max_rows, n, quote_literal(d::text), quote_literal((d + 1)::text);
            CONTINUE;
        END IF;
        todo := todo || d;
        EXECUTE format('CREATE TABLE public.%I (LIKE public.agent_runs INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
        EXECUTE format('ALTER TABLE public.%I ADD CONSTRAINT %I CHECK (started_at IS NOT NULL AND started_at >= %L AND started_at < %L)',
                       part, part || '_bound', lo, hi);
    END LOOP;
    IF cardinality(todo) = 0 THEN
        RETURN 0;
    END IF;
    PERFORM ops.lock_for_ddl(ARRAY['public.agent_runs', 'public.agent_runs_default']::regclass[]);
    FOREACH d IN ARRAY todo LOOP
        part := 'agent_runs_p' || to_char(d, 'YYYYMMDD');
        CONTINUE WHEN EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = format('public.%I', part)::regclass);
        lo := d::timestamp AT TIME ZONE 'UTC';
        hi := (d + 1)::timestamp AT TIME ZONE 'UTC';
        EXECUTE format(
            'WITH moved AS (DELETE FROM public.agent_runs_default WHERE started_at >= %L AND started_at < %L RETURNING *)
             INSERT INTO public.%I SELECT * FROM moved', lo, hi, part);
        EXECUTE format('ALTER TABLE public.agent_runs ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)',
                       part, lo, hi);
        EXECUTE format('ALTER TABLE public.%I DROP CONSTRAINT %I', part, part || '_bound');
        created := created + 1;
    END LOOP;
    RETURN created;
END $$;

-- The job role's days: those of [p_from, p_to) inside the policy's window around today
-- (partition_days_back before it to partition_days_ahead after it). Days outside are left to
-- the default partition, with a notice.
CREATE OR REPLACE FUNCTION ops.create_agent_runs_partitions_near_today(p_from date, p_to date)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    pol  record := ops.current_retention_policy();
    lo   date := ops.utc_today() - pol.partition_days_back;
    hi   date := ops.utc_today() + pol.partition_days_ahead + 1;
    f    date := greatest(p_from, lo);
    t    date := least(p_to, hi);
BEGIN
    IF p_from IS NULL OR p_to IS NULL THEN
        RAISE EXCEPTION 'partition days must be given' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF f > p_from OR t < p_to THEN
        RAISE NOTICE 'agent_runs partitions are created from % to % (ops.retention_policy); asked for % to %',
            lo, hi, p_from, p_to;
    END IF;
    IF f >= t THEN
        RETURN 0;
    END IF;
    RETURN ops.create_agent_runs_partitions(f, t);
END $$;

-- The name every caller uses: the owner (and superusers) get any days, every other role the
-- window around today. SECURITY INVOKER, so current_user is the caller.
CREATE OR REPLACE FUNCTION ops.ensure_agent_runs_partitions(p_from date, p_to date)
RETURNS integer LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF pg_has_role(current_user, 'agent_warehouse_owner', 'USAGE') THEN
        RETURN ops.create_agent_runs_partitions(p_from, p_to);
    END IF;
    RETURN ops.create_agent_runs_partitions_near_today(p_from, p_to);
END $$;

-- ------------------------------------------------------------ locks in one order
-- Like ops.lock_for_ddl (short, retried waits; all or nothing), with a mode per table.
CREATE OR REPLACE FUNCTION ops.lock_tables_briefly(p_tables regclass[], p_modes text[])
RETURNS integer LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    timeout_ms integer := coalesce(nullif(current_setting('agent_warehouse.ddl_lock_timeout_ms', true), '')::integer, 100);
    attempts   integer := coalesce(nullif(current_setting('agent_warehouse.ddl_lock_attempts', true), '')::integer, 20);
    outer_timeout text := current_setting('lock_timeout');
    pause      double precision := 0.05;
BEGIN
    IF cardinality(p_tables) IS DISTINCT FROM cardinality(p_modes)
       OR EXISTS (SELECT 1 FROM unnest(p_modes) m WHERE m NOT IN ('EXCLUSIVE', 'ACCESS EXCLUSIVE')) THEN
        RAISE EXCEPTION 'one mode (EXCLUSIVE or ACCESS EXCLUSIVE) per table' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR attempt IN 1 .. greatest(attempts, 1) LOOP
        BEGIN
            PERFORM set_config('lock_timeout', timeout_ms || 'ms', true);
            FOR i IN 1 .. cardinality(p_tables) LOOP
                EXECUTE format('LOCK TABLE ONLY %s IN %s MODE', p_tables[i], p_modes[i]);
            END LOOP;
            PERFORM set_config('lock_timeout', outer_timeout, true);
            RETURN attempt;
        EXCEPTION WHEN lock_not_available THEN
            IF attempt >= attempts THEN
                RAISE EXCEPTION 'could not lock % within % attempts of % ms: the application or another job '
                                'kept it busy; nothing was changed, the task may be retried', p_tables, attempts, timeout_ms
                    USING ERRCODE = 'lock_not_available';
            END IF;
            PERFORM pg_sleep(pause * (0.5 + random()));
            pause := least(pause * 2, 5);
        END;
    END LOOP;
END $$;

-- ---------------------------------------------------------------- the drop
-- Migration 0013's drop, with two changes. The horizon never passes the policy's minimum
-- (min_raw_days before today, UTC): a later date is lowered to it, with a warning. And the
-- locks are taken in the order every rollup takes them: ops.retention_state first (EXCLUSIVE:
-- it waits for the rollups whose guard holds the row FOR SHARE, and makes new ones wait
-- before they read agent_runs), then agent_runs, the expiring partitions and the default
-- partition. Before, the drop held agent_runs and then waited for the retention row while a
-- rollup held the row and waited for agent_runs: a deadlock, which killed the rollup.
CREATE OR REPLACE FUNCTION ops.drop_expired_agent_runs(p_keep_from date)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    latest       date := ops.utc_today() - (ops.current_retention_policy()).min_raw_days;
    keep_day     date := least(p_keep_from, latest);
    keep_from    timestamptz := keep_day::timestamp AT TIME ZONE 'UTC';
    checked_from timestamptz;
    dropped      text[];
    stale        timestamptz[];
BEGIN
    IF p_keep_from IS NULL THEN
        RAISE EXCEPTION 'the day raw rows are kept from must be given' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF keep_day < p_keep_from THEN
        RAISE WARNING 'raw rows are kept from % at the latest (ops.retention_policy.min_raw_days); asked for %',
            latest, p_keep_from;
    END IF;
    PERFORM pg_advisory_xact_lock(ops.lock_key('agent_runs_ddl'), 0);
    checked_from := coalesce((SELECT raw_kept_from FROM ops.retention_state), '-infinity');
    SELECT coalesce(array_agg(c.relname::text ORDER BY c.relname), '{}') INTO dropped
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'public.agent_runs'::regclass
      AND c.relname ~ '^agent_runs_p[0-9]{8}$'
      AND to_date(substr(c.relname, 13), 'YYYYMMDD') < keep_day;

    SELECT array_agg(h) INTO stale FROM ops.hours_not_current(checked_from, keep_from) AS h;
    IF stale IS NOT NULL THEN
        RAISE EXCEPTION 'refusing to drop raw data before %: % hour(s) not rolled up, first %',
            keep_day, cardinality(stale), stale[1]
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    PERFORM ops.lock_tables_briefly(
        ARRAY['ops.retention_state', 'public.agent_runs']::regclass[]
        || (SELECT coalesce(array_agg(format('public.%I', x)::regclass), '{}') FROM unnest(dropped) AS x)
        || ARRAY['public.agent_runs_default']::regclass[],
        ARRAY['EXCLUSIVE', 'ACCESS EXCLUSIVE']
        || array_fill('ACCESS EXCLUSIVE'::text, ARRAY[cardinality(dropped) + 1]));
    SELECT array_agg(DISTINCT hour ORDER BY hour) INTO stale
    FROM ops.agent_runs_invalidations WHERE hour >= checked_from AND hour < keep_from;
    IF stale IS NOT NULL THEN
        RAISE EXCEPTION 'refusing to drop raw data before %: % hour(s) not rolled up (changed during the check), first %',
            keep_day, cardinality(stale), stale[1]
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    FOR i IN 1 .. cardinality(dropped) LOOP
        EXECUTE format('DROP TABLE public.%I', dropped[i]);
    END LOOP;
    DELETE FROM ops.agent_runs_invalidations WHERE hour < keep_from;
    INSERT INTO ops.retention_state (id, raw_kept_from) VALUES (true, keep_from)
    ON CONFLICT (id) DO UPDATE SET raw_kept_from = greatest(ops.retention_state.raw_kept_from,
                                                            EXCLUDED.raw_kept_from),
                                   updated_at = now();
    RETURN jsonb_build_object('partitions', to_jsonb(dropped),
                              'raw_kept_from', (SELECT raw_kept_from FROM ops.retention_state));
END $$;

-- Migration 0012's hourly expiry, bounded by the policy (min_hourly_days before today) and
-- deaf to a keep_period flag set by its caller (which would skip the deletes but still move
-- the horizon).
CREATE OR REPLACE FUNCTION ops.delete_expired_hourly(p_before timestamptz)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    latest  timestamptz := (ops.utc_today() - (ops.current_retention_policy()).min_hourly_days)::timestamp
                           AT TIME ZONE 'UTC';
    st      record;
    cutoff  timestamptz;
    n_rows  bigint := 0;
    n_rej   bigint := 0;
    n       bigint;
BEGIN
    PERFORM set_config('agent_warehouse.keep_period', 'off', true);
    SELECT raw_kept_from, hourly_kept_from INTO st FROM ops.retention_state FOR UPDATE;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('hourly_rows', 0, 'rejected_rows', 0, 'hourly_kept_from', NULL);
    END IF;
    cutoff := least(p_before, latest, st.raw_kept_from,
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

-- Batches of at most 100,000 rows (a larger batch would hold its row locks longer).
CREATE OR REPLACE FUNCTION ops.delete_expired_default_rows(p_limit integer)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    kept_from timestamptz := (SELECT raw_kept_from FROM ops.retention_state);
    n         bigint;
BEGIN
    IF kept_from IS NULL THEN
        RETURN 0;
    END IF;
    DELETE FROM public.agent_runs_default
    WHERE ctid = ANY (ARRAY(SELECT ctid FROM public.agent_runs_default
                            WHERE started_at < kept_from
                            LIMIT least(greatest(coalesce(p_limit, 1), 1), 100000)))
      AND started_at < kept_from;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- ------------------------------------------------------------ ownership and grants
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT p.oid::regprocedure AS fn FROM pg_proc p
        WHERE p.pronamespace = 'ops'::regnamespace
          AND p.proname IN ('current_retention_policy', 'utc_today', 'lock_rollup_period',
                            'refuse_unfinished_rollup', 'rollup_is_open', 'begin_rollup',
                            'rollup_count_mismatches', 'finish_rollup', 'log_rollup_table_written',
                            'create_agent_runs_partitions', 'create_agent_runs_partitions_near_today',
                            'ensure_agent_runs_partitions', 'lock_tables_briefly', 'drop_expired_agent_runs',
                            'delete_expired_hourly', 'delete_expired_default_rows')
    LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO agent_warehouse_owner', r.fn);
    END LOOP;
END $$;
ALTER TABLE ops.retention_policy OWNER TO agent_warehouse_owner;
ALTER TABLE ops.rollups_open OWNER TO agent_warehouse_owner;

REVOKE ALL ON FUNCTION ops.lock_rollup_period(text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION ops.rollup_count_mismatches(text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION ops.create_agent_runs_partitions(date, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION ops.create_agent_runs_partitions_near_today(date, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION ops.lock_tables_briefly(regclass[], text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION ops.begin_rollup(text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION ops.finish_rollup(text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION ops.ensure_agent_runs_partitions(date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.create_agent_runs_partitions_near_today(date, date) TO agent_warehouse_job;
GRANT EXECUTE ON FUNCTION ops.ensure_agent_runs_partitions(date, date) TO agent_warehouse_job;
GRANT EXECUTE ON FUNCTION ops.begin_rollup(text, timestamptz) TO agent_warehouse_job;
GRANT EXECUTE ON FUNCTION ops.finish_rollup(text, timestamptz) TO agent_warehouse_job;
GRANT EXECUTE ON FUNCTION ops.rollup_count_mismatches(text, timestamptz) TO agent_warehouse_job;
