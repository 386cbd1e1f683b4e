-- Expired hourly rollups deleted without the hourly tables' triggers (issue 20, cleanup).
--
-- ops.delete_expired_hourly deletes about 650,000 rows a day at 200,000 runs an hour, and the
-- triggers made every deleted row cost about three times a bare delete (EXPLAIN ANALYZE of
-- user_activity_hourly's 548,707 rows: 1.4 s with them, 0.26 s without):
-- - keep_expired_period, BEFORE DELETE FOR EACH ROW: even with its WHEN false (the function
--   sets agent_warehouse.keep_period off), PostgreSQL fetches and locks every row before
--   deleting it (a second WAL record and buffer access per row);
-- - three AFTER ... FOR EACH STATEMENT triggers with an OLD TABLE: every deleted row is copied
--   into the transition table, then ops.count_rows_written counts it, and
--   ops.log_hourly_rollup_changed and ops.log_rollup_table_written each take its DISTINCT
--   hours only to log nothing: every deleted hour is before the cutoff, never past
--   ops.retention_state.raw_kept_from (held FOR UPDATE meanwhile), and both keep only hours at
--   or after it (hour >= raw_kept_from; ops.period_past_retention('hour', hour) IS NULL).
-- Their only effect was rows_written's count, which the function now adds itself (ROW_COUNT).
-- ALTER TABLE ... DISABLE TRIGGER does not help: a disabled trigger still makes PostgreSQL
-- lock each row and fill the transition table; only a trigger that is not there does not.
--
-- So the function, as the tables' owner, takes those known triggers away for its own deletes
-- and puts them back, with the same definitions (pg_get_triggerdef) and comments, before it
-- returns, all inside its transaction:
-- - DDL is transactional: no other session ever sees a table without its triggers (catalog
--   rows are MVCC), and an error anywhere rolls the drop back with the deletes;
-- - the five tables are first locked ACCESS EXCLUSIVE with ops.lock_tables_briefly's short
--   waits (at most 3 attempts: the rollups' guards already wait on the retention row this
--   function holds, so the tables are normally free), so no other session reads or writes
--   them until the cleanup's transaction ends: the deletes, now about 0.3 s at 200,000 runs an
--   hour, once a day. If a table stays busy (or is not the function owner's to alter), the
--   function falls back to the deletes through the triggers, as before, with a NOTICE;
-- - only the named triggers whose effect is accounted for above go, and only if enabled: a
--   trigger added later, or one an administrator disabled, stays as it is (and fires if on);
-- - the job role gains nothing: it still cannot alter the tables, only call the owner's
--   function, which picks the cutoff as before.
-- session_replication_role is not used (a superuser's setting on managed services).

CREATE OR REPLACE FUNCTION ops.delete_expired_hourly(p_before timestamptz)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    latest   timestamptz := (ops.utc_today() - (ops.current_retention_policy()).min_hourly_days)::timestamp
                            AT TIME ZONE 'UTC';
    tables   regclass[] := ARRAY['analytics.execution_metrics_hourly', 'analytics.runtime_sketch_hourly',
                                 'analytics.user_activity_hourly', 'analytics.workspace_activity_hourly',
                                 'ops.rejected_runs_hourly']::regclass[];
    attempts text := current_setting('agent_warehouse.ddl_lock_attempts', true);
    st       record;
    cutoff   timestamptz;
    n_rows   bigint := 0;
    n_rej    bigint := 0;
    n        bigint;
    written  bigint := 0;
    trg      record;
    put_back text[] := '{}';      -- the definitions (and comments) of the triggers taken away
    counted  regclass[] := '{}';  -- tables whose count trigger was taken away: counted here
BEGIN
    PERFORM set_config('agent_warehouse.keep_period', 'off', true);
    SELECT raw_kept_from, hourly_kept_from INTO st FROM ops.retention_state FOR UPDATE;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('hourly_rows', 0, 'rejected_rows', 0, 'hourly_kept_from', NULL);
    END IF;
    cutoff := least(p_before, latest, st.raw_kept_from,
                    (SELECT min(period)::timestamp AT TIME ZONE 'UTC' FROM ops.rollup_invalidations));
    IF cutoff > coalesce(st.hourly_kept_from, '-infinity') THEN
        BEGIN
            PERFORM set_config('agent_warehouse.ddl_lock_attempts',
                               least(coalesce(nullif(attempts, '')::integer, 20), 3)::text, true);
            PERFORM ops.lock_tables_briefly(tables, array_fill('ACCESS EXCLUSIVE'::text, ARRAY[cardinality(tables)]));
            PERFORM set_config('agent_warehouse.ddl_lock_attempts', coalesce(attempts, ''), true);
            FOR trg IN
                SELECT t.tgrelid::regclass AS tbl, t.tgname::text AS name,
                       pg_get_triggerdef(t.oid) AS def, obj_description(t.oid, 'pg_trigger') AS note,
                       t.tgname = c.relname || '_count_delete' AS counts
                FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                WHERE t.tgrelid = ANY (tables) AND NOT t.tgisinternal AND t.tgconstraint = 0
                  AND t.tgenabled = 'O'
                  AND t.tgname IN ('keep_expired_period', c.relname || '_count_delete',
                                   c.relname || '_log_delete', c.relname || '_outside_delete')
                ORDER BY t.tgrelid, t.tgname
            LOOP
                put_back := put_back || trg.def;
                IF trg.note IS NOT NULL THEN
                    put_back := put_back || format('COMMENT ON TRIGGER %I ON %s IS %L', trg.name, trg.tbl, trg.note);
                END IF;
                IF trg.counts THEN
                    counted := counted || trg.tbl;
                END IF;
                EXECUTE format('DROP TRIGGER %I ON %s', trg.name, trg.tbl);
            END LOOP;
        EXCEPTION WHEN lock_not_available OR insufficient_privilege THEN
            PERFORM set_config('agent_warehouse.ddl_lock_attempts', coalesce(attempts, ''), true);
            put_back := '{}';
            counted := '{}';
            RAISE NOTICE 'expired hourly rollups deleted through their triggers: %', SQLERRM;
        END;
        FOR i IN 1 .. cardinality(tables) LOOP
            EXECUTE format('DELETE FROM %s WHERE hour < $1', tables[i]) USING cutoff;
            GET DIAGNOSTICS n = ROW_COUNT;
            IF tables[i] = 'ops.rejected_runs_hourly'::regclass THEN
                n_rej := n;
            ELSE
                n_rows := n_rows + n;
            END IF;
            IF tables[i] = ANY (counted) THEN
                written := written + n;
            END IF;
        END LOOP;
        FOR i IN 1 .. cardinality(put_back) LOOP
            EXECUTE put_back[i];
        END LOOP;
        -- What ops.count_rows_written would have added on the tables it was taken from.
        IF written > 0 THEN
            PERFORM set_config('agent_warehouse.rows_written', (ops.rows_written() + written)::text, false);
        END IF;
        UPDATE ops.retention_state SET hourly_kept_from = cutoff, updated_at = now();
    END IF;
    RETURN jsonb_build_object('hourly_rows', n_rows, 'rejected_rows', n_rej,
                              'hourly_kept_from', (SELECT hourly_kept_from FROM ops.retention_state));
END $$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'agent_warehouse_owner') THEN
        ALTER FUNCTION ops.delete_expired_hourly(timestamptz) OWNER TO agent_warehouse_owner;
    END IF;
END $$;
REVOKE ALL ON FUNCTION ops.delete_expired_hourly(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.delete_expired_hourly(timestamptz) TO agent_warehouse_job;
