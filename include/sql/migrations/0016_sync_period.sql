-- One shape for every rollup grain: make the rows of one period of a rollup table equal to
-- the rows of a source table, deleting the rows that vanished and writing only the rows
-- whose values changed (so an unchanged rerun writes nothing, updated_at keeps its value and
-- the statement triggers on the hourly tables log nothing).
--
--   p_target         the rollup table, e.g. 'analytics.execution_metrics_hourly'
--   p_source         a table (usually a temporary one) holding p_keys and p_values
--   p_period_column  the target's period column ('hour', 'day', 'week_start')
--   p_period         the period being replaced (timestamptz or date, as the column)
--   p_keys           the target's key columns other than the period column
--   p_values         the value columns compared and written
--
-- The target's primary key must be (p_period_column, p_keys) in any order. A target with
-- an updated_at column gets now() on every row written. Returns the rows written
-- (deleted + inserted + updated).
CREATE OR REPLACE FUNCTION ops.sync_period(
    p_target regclass, p_source regclass, p_period_column text, p_period anyelement,
    p_keys text[], p_values text[]
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    stamped  boolean;
    key_eq   text;
    cols     text;
    sets     text;
    old_vals text;
    new_vals text;
    deleted  bigint;
    written  bigint;
BEGIN
    SELECT EXISTS (SELECT 1 FROM pg_attribute
                   WHERE attrelid = p_target AND attname = 'updated_at' AND NOT attisdropped)
    INTO stamped;
    SELECT string_agg(format('s.%1$I = t.%1$I', k), ' AND ') INTO key_eq FROM unnest(p_keys) k;
    SELECT string_agg(format('%I', c), ', ') INTO cols FROM unnest(p_keys || p_values) c;
    SELECT string_agg(format('%1$I = EXCLUDED.%1$I', v), ', '),
           string_agg(format('t.%I', v), ', '),
           string_agg(format('EXCLUDED.%I', v), ', ')
    INTO sets, old_vals, new_vals FROM unnest(p_values) v;

    EXECUTE format('DELETE FROM %s t WHERE t.%I = $1 AND NOT EXISTS (SELECT 1 FROM %s s WHERE %s)',
                   p_target, p_period_column, p_source, key_eq)
    USING p_period;
    GET DIAGNOSTICS deleted = ROW_COUNT;

    -- ROW() keeps a single value column a row too.
    EXECUTE format('INSERT INTO %1$s AS t (%2$I, %3$s%4$s) SELECT $1, %3$s%5$s FROM %6$s s '
                   'ON CONFLICT (%2$I, %7$s) DO UPDATE SET %8$s%9$s '
                   'WHERE ROW(%10$s) IS DISTINCT FROM ROW(%11$s)',
                   p_target, p_period_column, cols,
                   CASE WHEN stamped THEN ', updated_at' ELSE '' END,
                   CASE WHEN stamped THEN ', now()' ELSE '' END,
                   p_source, (SELECT string_agg(format('%I', k), ', ') FROM unnest(p_keys) k),
                   sets, CASE WHEN stamped THEN ', updated_at = EXCLUDED.updated_at' ELSE '' END,
                   old_vals, new_vals)
    USING p_period;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN deleted + written;
END $$;
