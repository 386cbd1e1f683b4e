-- Locks (issue 10 sections 2, 4 and 5; issue 12's cleanup): one registry of advisory-lock
-- keys; partition creation and the cleanup's drop that never deadlock with or stall the
-- application's writes on public.agent_runs beyond a short, retried lock wait; a cleanup
-- check that costs O(hours); and retention bookkeeping the job role cannot forge or erase.
-- docs/locking.md says what writers can expect.

-- ------------------------------------------------------------ lock registry
-- Every advisory lock the package takes, by name, in one place. Two-key form
-- pg_advisory_xact_lock(ops.lock_key(name), period) unless said otherwise. The schema
-- migrations lock (7310001, session-level, agent_warehouse/db/migrations.py) is taken before
-- this function can exist, so it is listed here only to keep the number reserved.
CREATE OR REPLACE FUNCTION ops.lock_key(p_name text)
RETURNS integer LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN CASE p_name
        WHEN 'schema_migrations' THEN 7310001  -- one `make migrate` at a time
        WHEN 'agent_runs_ddl'    THEN 7310002  -- partition creation and the cleanup's drop, (key, 0)
        WHEN 'rollup_hour'       THEN 7310003  -- (key, epoch hours): one writer per hour
        WHEN 'rollup_day'        THEN 7310004  -- (key, days since 2000-01-01): one writer per day
        WHEN 'rollup_week'       THEN 7310005  -- (key, weeks since 2000-01-03)
        WHEN 'health_day'        THEN 7310006  -- (key, days since 2000-01-01)
        WHEN 'signals_derive'    THEN 7310007  -- (key, days since 2000-01-01)
        WHEN 'signals_score'     THEN 7310008  -- seed of hashtextextended(workspace/pack), one bigint key
        ELSE ops.unknown_lock_key(p_name)
    END;
END $$;

CREATE OR REPLACE FUNCTION ops.unknown_lock_key(p_name text)
RETURNS integer LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'no advisory lock named % in ops.lock_key', p_name;
END $$;

-- -------------------------------------------------- short, retried DDL locks
-- Take ACCESS EXCLUSIVE on each of p_tables (in this order; ONLY, so a partitioned table's
-- partitions are not locked through it), each wait bounded by a short lock_timeout. While a
-- request waits, the application's statements on those tables queue behind it, so the wait is
-- kept short (agent_warehouse.ddl_lock_timeout_ms, default 100 ms) and, when it runs out,
-- given up (the subtransaction releases whatever it took) and retried after a backoff with
-- jitter (50 ms doubling to 5 s), at most agent_warehouse.ddl_lock_attempts times (default
-- 20, about 70 s in all). Raises lock_not_available, changing nothing, if every attempt fails.
-- Returns the attempt that succeeded. Callers take every lock here before any other, so the
-- application never waits on the job while the job waits on the application: no deadlock.
CREATE OR REPLACE FUNCTION ops.lock_for_ddl(p_tables regclass[])
RETURNS integer LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    timeout_ms integer := coalesce(nullif(current_setting('agent_warehouse.ddl_lock_timeout_ms', true), '')::integer, 100);
    attempts   integer := coalesce(nullif(current_setting('agent_warehouse.ddl_lock_attempts', true), '')::integer, 20);
    outer_timeout text := current_setting('lock_timeout');
    pause      double precision := 0.05;
    t          regclass;
BEGIN
    FOR attempt IN 1 .. greatest(attempts, 1) LOOP
        BEGIN
            PERFORM set_config('lock_timeout', timeout_ms || 'ms', true);
            FOREACH t IN ARRAY p_tables LOOP
                EXECUTE format('LOCK TABLE ONLY %s IN ACCESS EXCLUSIVE MODE', t);
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

-- ----------------------------------------------------------- partition creation
-- Daily partitions of agent_runs for [p_from, p_to). The usual call finds them all there and
-- takes no lock at all. Otherwise: one DDL job at a time (advisory lock); each new day is
-- built as a standalone table with a CHECK constraint matching its bound (so ATTACH need not
-- scan it); then, holding ACCESS EXCLUSIVE on the parent (ONLY) and the default partition,
-- taken first with a short, retried lock_timeout (ops.lock_for_ddl), the day's rows move out of
-- the default partition and the table is attached. The lock on the parent (ATTACH alone needs
-- SHARE UPDATE EXCLUSIVE there) makes every application statement plan after the attach with
-- the new partition in view: an UPDATE by id planned before it would miss a moved row, and an
-- INSERT routed to the default partition before it would fail its new partition constraint.
-- The locks are held for the move plus ATTACH's scan of the default partition: milliseconds
-- while the default partition is empty (partitions are created days ahead), longer after a
-- historical load into it (docs/locking.md has the figures). Moved rows fire no trigger.
-- A day with more than agent_warehouse.partition_move_max_rows (default 100,000) rows in the
-- default partition is left there, with a warning: moving it would hold the locks too long. Its
-- rows stay correct where they are; an operator can partition it in a quiet moment by raising
-- the setting for one call.
CREATE OR REPLACE FUNCTION ops.ensure_agent_runs_partitions(p_from date, p_to date)
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
    -- Standalone tables first: nothing the application writes is locked yet.
    FOREACH d IN ARRAY missing LOOP
        part := 'agent_runs_p' || to_char(d, 'YYYYMMDD');
        CONTINUE WHEN to_regclass(format('public.%I', part)) IS NOT NULL;  -- made meanwhile
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
        -- The partition constraint says the same now.
        EXECUTE format('ALTER TABLE public.%I DROP CONSTRAINT %I', part, part || '_bound');
        created := created + 1;
    END LOOP;
    RETURN created;
END $$;

-- --------------------------------------------------------- the O(hours) check
-- Hours of [p_from, p_to) that are not rolled up as their raw rows are now: named in the
-- invalidation log (every insert, update and delete of raw rows logs its hours, and only the
-- hour's rollup consumes them), or holding raw rows while never rolled up (ops.hours_rolled_up).
-- The second part probes, per partition day, only the hours missing from ops.hours_rolled_up
-- (one indexed EXISTS each), and reads the default partition's rows of the range (which the
-- cleanup deletes anyway); so a day whose hours all ran costs 24 index lookups, whatever its rows.
-- The owner's rights: the job role reads agent_runs only through the parent.
CREATE OR REPLACE FUNCTION ops.hours_not_current(p_from timestamptz, p_to timestamptz)
RETURNS SETOF timestamptz LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
    SELECT hour FROM ops.agent_runs_invalidations
    WHERE hour >= p_from AND hour < p_to
    UNION
    SELECT h
    FROM (SELECT to_date(substr(c.relname, 13), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC' AS day
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = 'public.agent_runs'::regclass
            AND c.relname ~ '^agent_runs_p[0-9]{8}$') p
    CROSS JOIN LATERAL generate_series(p.day, p.day + interval '23 hours', interval '1 hour') AS h
    WHERE h >= p_from AND h < p_to
      AND NOT EXISTS (SELECT 1 FROM ops.hours_rolled_up r WHERE r.hour = h)
      AND EXISTS (SELECT 1 FROM public.agent_runs a
                  WHERE a.started_at >= h AND a.started_at < h + interval '1 hour')
    UNION
    SELECT DISTINCT date_trunc('hour', started_at, 'UTC')
    FROM public.agent_runs_default d
    WHERE started_at >= p_from AND started_at < p_to
      AND NOT EXISTS (SELECT 1 FROM ops.hours_rolled_up r
                      WHERE r.hour = date_trunc('hour', d.started_at, 'UTC'))
    ORDER BY 1
$$;

-- The count comparison it replaces (O(rows)) has no caller left.
DROP FUNCTION IF EXISTS ops.hours_not_rolled_up(timestamptz, timestamptz);

-- ---------------------------------------------------------------- the drop
-- Drop every raw day before p_keep_from: whole daily partitions. Refuses (raises, drops
-- nothing) when any hour before it is not rolled up and current (ops.hours_not_current, which
-- takes no lock the application waits for). Then, locks taken first and briefly
-- (ops.lock_for_ddl: ACCESS EXCLUSIVE on the parent, which DROP needs, the expiring partitions and
-- the default partition), it checks the invalidation log again (the only thing a write committed
-- meanwhile can have changed), drops the partitions and moves the retention horizon. The locks are
-- held for milliseconds (catalog work, an indexed look at the log). The default partition's rows of
-- the dropped days are deleted afterwards in small batches (ops.delete_expired_default_rows).
-- Dropping fires no trigger, so the rollups of the dropped days stay as they are.
-- Returns {"partitions": [...], "raw_kept_from": ...}.
CREATE OR REPLACE FUNCTION ops.drop_expired_agent_runs(p_keep_from date)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    keep_from    timestamptz := p_keep_from::timestamp AT TIME ZONE 'UTC';
    checked_from timestamptz;
    dropped      text[];
    stale        timestamptz[];
BEGIN
    -- One cleanup or partition creation at a time.
    PERFORM pg_advisory_xact_lock(ops.lock_key('agent_runs_ddl'), 0);
    -- Days before the last cleanup's horizon have no raw rows left to compare with.
    checked_from := coalesce((SELECT raw_kept_from FROM ops.retention_state), '-infinity');
    SELECT coalesce(array_agg(c.relname::text ORDER BY c.relname), '{}') INTO dropped
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'public.agent_runs'::regclass
      AND c.relname ~ '^agent_runs_p[0-9]{8}$'
      AND to_date(substr(c.relname, 13), 'YYYYMMDD') < p_keep_from;

    SELECT array_agg(h) INTO stale FROM ops.hours_not_current(checked_from, keep_from) AS h;
    IF stale IS NOT NULL THEN
        RAISE EXCEPTION 'refusing to drop raw data before %: % hour(s) not rolled up, first %',
            p_keep_from, cardinality(stale), stale[1]
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    PERFORM ops.lock_for_ddl(ARRAY['public.agent_runs']::regclass[]
                             || (SELECT coalesce(array_agg(format('public.%I', x)::regclass), '{}')
                                 FROM unnest(dropped) AS x)
                             || ARRAY['public.agent_runs_default']::regclass[]);
    -- Writers are out now; anything they committed before is logged here.
    SELECT array_agg(DISTINCT hour ORDER BY hour) INTO stale
    FROM ops.agent_runs_invalidations WHERE hour >= checked_from AND hour < keep_from;
    IF stale IS NOT NULL THEN
        RAISE EXCEPTION 'refusing to drop raw data before %: % hour(s) not rolled up (changed during the check), first %',
            p_keep_from, cardinality(stale), stale[1]
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    FOR i IN 1 .. cardinality(dropped) LOOP
        EXECUTE format('DROP TABLE public.%I', dropped[i]);
    END LOOP;
    -- Invalidations of hours that no longer have raw rows are moot.
    DELETE FROM ops.agent_runs_invalidations WHERE hour < keep_from;
    INSERT INTO ops.retention_state (id, raw_kept_from) VALUES (true, keep_from)
    ON CONFLICT (id) DO UPDATE SET raw_kept_from = greatest(ops.retention_state.raw_kept_from,
                                                            EXCLUDED.raw_kept_from),
                                   updated_at = now();
    RETURN jsonb_build_object('partitions', to_jsonb(dropped),
                              'raw_kept_from', (SELECT raw_kept_from FROM ops.retention_state));
END $$;

-- Delete up to p_limit rows of the default partition that precede the retention horizon (rows
-- of days that never had a partition). Only row locks on those expired rows, released at the
-- end of each batch; the caller repeats until it returns 0. Deleting from the partition itself
-- fires no trigger on agent_runs, and hours before the horizon are final anyway.
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
                            WHERE started_at < kept_from LIMIT greatest(p_limit, 1)))
      AND started_at < kept_from;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- ------------------------------------------- what the drop relies on is the owner's
-- The drop trusts three things: ops.retention_state (where its check starts), the invalidation
-- log and ops.hours_rolled_up. The job role may no longer write retention_state at all; it may
-- not insert, update or truncate the log, nor delete or truncate hours_rolled_up. The hourly
-- rollup (run as the job role) still consumes its hour's log entries and records the hour as
-- rolled up, and row-level security lets it do exactly that: only for an hour whose rollup lock
-- (ops.lock_key('rollup_hour')) its own transaction holds, i.e. inside rollup_hour.sql.
-- Owner functions (the triggers, the drop) own these tables and are not subject to the policies.

-- Hours whose rollup lock this session holds.
CREATE OR REPLACE FUNCTION ops.hours_locked_for_rollup()
RETURNS SETOF timestamptz LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
    SELECT to_timestamp(objid::bigint * 3600)
    FROM pg_locks
    WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted AND objsubid = 2
      AND classid = ops.lock_key('rollup_hour')::bigint::oid
$$;

REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ops.retention_state FROM agent_warehouse_job;
REVOKE INSERT, UPDATE, TRUNCATE ON ops.agent_runs_invalidations FROM agent_warehouse_job;
REVOKE DELETE, TRUNCATE ON ops.hours_rolled_up FROM agent_warehouse_job;
GRANT SELECT, DELETE ON ops.agent_runs_invalidations TO agent_warehouse_job;
GRANT SELECT, INSERT, UPDATE ON ops.hours_rolled_up TO agent_warehouse_job;
GRANT SELECT ON ops.retention_state TO agent_warehouse_job;

ALTER TABLE ops.agent_runs_invalidations ENABLE ROW LEVEL SECURITY;
ALTER TABLE ops.hours_rolled_up ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS job_reads ON ops.agent_runs_invalidations;
CREATE POLICY job_reads ON ops.agent_runs_invalidations FOR SELECT TO agent_warehouse_job USING (true);
DROP POLICY IF EXISTS job_consumes_rolled_hour ON ops.agent_runs_invalidations;
CREATE POLICY job_consumes_rolled_hour ON ops.agent_runs_invalidations FOR DELETE TO agent_warehouse_job
    USING (hour IN (SELECT ops.hours_locked_for_rollup()));
DROP POLICY IF EXISTS job_reads ON ops.hours_rolled_up;
CREATE POLICY job_reads ON ops.hours_rolled_up FOR SELECT TO agent_warehouse_job USING (true);
DROP POLICY IF EXISTS job_records_rolled_hour ON ops.hours_rolled_up;
CREATE POLICY job_records_rolled_hour ON ops.hours_rolled_up FOR INSERT TO agent_warehouse_job
    WITH CHECK (hour IN (SELECT ops.hours_locked_for_rollup()));
DROP POLICY IF EXISTS job_rerecords_rolled_hour ON ops.hours_rolled_up;
CREATE POLICY job_rerecords_rolled_hour ON ops.hours_rolled_up FOR UPDATE TO agent_warehouse_job
    USING (hour IN (SELECT ops.hours_locked_for_rollup()))
    WITH CHECK (hour IN (SELECT ops.hours_locked_for_rollup()));

-- ------------------------------------------------------------ ownership, grants
ALTER FUNCTION ops.lock_key(text) OWNER TO agent_warehouse_owner;
ALTER FUNCTION ops.unknown_lock_key(text) OWNER TO agent_warehouse_owner;
ALTER FUNCTION ops.lock_for_ddl(regclass[]) OWNER TO agent_warehouse_owner;
ALTER FUNCTION ops.ensure_agent_runs_partitions(date, date) OWNER TO agent_warehouse_owner;
ALTER FUNCTION ops.hours_not_current(timestamptz, timestamptz) OWNER TO agent_warehouse_owner;
ALTER FUNCTION ops.drop_expired_agent_runs(date) OWNER TO agent_warehouse_owner;
ALTER FUNCTION ops.delete_expired_default_rows(integer) OWNER TO agent_warehouse_owner;
ALTER FUNCTION ops.hours_locked_for_rollup() OWNER TO agent_warehouse_owner;
ALTER TABLE ops.hours_rolled_up OWNER TO agent_warehouse_owner;

REVOKE ALL ON FUNCTION ops.lock_for_ddl(regclass[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION ops.delete_expired_default_rows(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION ops.hours_not_current(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.hours_not_current(timestamptz, timestamptz) TO agent_warehouse_job;
GRANT EXECUTE ON FUNCTION ops.delete_expired_default_rows(integer) TO agent_warehouse_job;
