-- rows_written in ops.job_runs counts rows written (inserted, updated or deleted), not rows
-- present (docs/audit.md). Statement-level triggers on the rollup tables add the rows each
-- statement really changed to a session counter; the upserts' IS DISTINCT FROM guard skips
-- unchanged rows, so an unchanged rerun adds 0. The counter is a GUC set with
-- set_config(..., false): it lives as long as the session, and a transaction that rolls
-- back takes its additions with it. A task reads it once, at the end, on its own connection.

CREATE OR REPLACE FUNCTION ops.rows_written() RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('agent_warehouse.rows_written', true), ''), '0')::bigint
$$;
COMMENT ON FUNCTION ops.rows_written() IS
    'Rollup rows inserted, updated or deleted by this session''s committed (and current) transactions';

CREATE OR REPLACE FUNCTION ops.count_rows_written() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    SELECT count(*) INTO n FROM changed_rows;
    IF n > 0 THEN
        PERFORM set_config('agent_warehouse.rows_written', (ops.rows_written() + n)::text, false);
    END IF;
    RETURN NULL;
END $$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'execution_metrics_hourly', 'runtime_sketch_hourly', 'user_activity_hourly', 'workspace_activity_hourly',
        'execution_metrics_daily', 'runtime_sketch_daily', 'user_activity_daily', 'workspace_activity_daily',
        'execution_metrics_weekly', 'runtime_sketch_weekly', 'workspace_activity_weekly',
        'workspace_health_daily', 'daily_reports']
    LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON analytics.%I', t || '_count_insert', t);
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON analytics.%I REFERENCING NEW TABLE AS changed_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION ops.count_rows_written()', t || '_count_insert', t);
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON analytics.%I', t || '_count_update', t);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON analytics.%I REFERENCING NEW TABLE AS changed_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION ops.count_rows_written()', t || '_count_update', t);
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON analytics.%I', t || '_count_delete', t);
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON analytics.%I REFERENCING OLD TABLE AS changed_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION ops.count_rows_written()', t || '_count_delete', t);
    END LOOP;
END $$;
