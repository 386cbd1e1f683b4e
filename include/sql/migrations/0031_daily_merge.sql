-- The daily rollup, cheaper (issue 20, section 3). Same rows, same bookkeeping.

-- ------------------------------------------------------------ the day's per-user rows
-- How many (workspace, user) pairs a day of user_activity_hourly holds, for the planner.
-- Without it the planner multiplies the two columns' distinct counts (246,753 groups
-- expected, 24,500 real at 200,000 runs an hour x 1,000 workspaces) and sizes the day's
-- hash table ten times too large: out of the CPU's cache, 0.23 s of CPU against 0.14 s.
-- A plain table: autovacuum's analyze keeps it current.
CREATE STATISTICS IF NOT EXISTS analytics.user_activity_hourly_workspace_user (ndistinct)
    ON workspace_id, user_id FROM analytics.user_activity_hourly;
ALTER STATISTICS analytics.user_activity_hourly_workspace_user OWNER TO agent_warehouse_owner;
ANALYZE analytics.user_activity_hourly;

-- ------------------------------------------------------------ the day's sketch, on two cores
-- One workspace's hourly sketches of [p_from, p_to) merged, as ops.hourly_sketches_merged
-- (0027) does, with the bucket total (the rank the p95 needs). Not a set-returning function,
-- so the planner never inlines it: the lateral call stays a function scan, which a parallel
-- plan may run in its workers (an inlined lateral subquery with an aggregate keeps the whole
-- statement in one process).
CREATE OR REPLACE FUNCTION ops.hourly_sketch_merged(
    p_workspace uuid, p_from timestamptz, p_to timestamptz,
    OUT bucket_keys integer[], OUT bucket_counts bigint[], OUT bucket_total bigint
) LANGUAGE sql STABLE PARALLEL SAFE COST 50000 AS $$
    SELECT array_agg(g.k ORDER BY g.k), array_agg(g.c ORDER BY g.k), ops.bigint_sum(g.c)
    FROM (SELECT u.k, ops.bigint_sum(u.c) AS c
          FROM (SELECT unnest(x.bucket_keys) AS k, unnest(x.bucket_counts) AS c
                FROM analytics.runtime_sketch_hourly x
                WHERE x.workspace_id = p_workspace AND x.hour >= p_from AND x.hour < p_to) u
          GROUP BY u.k) g
$$;

-- The day's sketches of one share of the workspaces (p_part of p_parts, by the last byte of
-- the id: random in v4 and v7 UUIDs alike): the hours' counts and sums (the float sum in
-- hour order, so reruns give identical rows) and the merged buckets. Inlined into the
-- caller; rollup_day.sql reads the shares as the branches of one UNION ALL, which a parallel
-- plan hands to its processes one branch at a time (Parallel Append).
CREATE OR REPLACE FUNCTION ops.hourly_sketches_share(
    p_from timestamptz, p_to timestamptz, p_part integer, p_parts integer
) RETURNS TABLE (workspace_id uuid, runtime_count bigint, runtime_sum double precision,
                 bucket_keys integer[], bucket_counts bigint[], bucket_total bigint)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH hours AS (
        SELECT h.workspace_id, sum(h.runtime_count)::bigint AS runtime_count,
               sum(h.runtime_sum ORDER BY h.hour) AS runtime_sum
        FROM analytics.runtime_sketch_hourly h
        WHERE h.hour >= p_from AND h.hour < p_to
          AND get_byte(uuid_send(h.workspace_id), 15) % p_parts = p_part
        GROUP BY h.workspace_id
    )
    SELECT h.workspace_id, h.runtime_count, h.runtime_sum, m.bucket_keys, m.bucket_counts, m.bucket_total
    FROM hours h
    CROSS JOIN LATERAL ops.hourly_sketch_merged(h.workspace_id, p_from, p_to) m
$$;

-- ------------------------------------------------------------ the p95 from a merged sketch
-- ops.sketch_quantile (0001) with the sketch's total given: the same ranks, the same bucket
-- values and the same interpolation, so the same double, bit for bit; but one pass, from the
-- top bucket down to the rank's bucket (the 0001 function sums every count first, then walks
-- up to the rank: about 55 us a workspace-day, 0.05 s of a day's rollup).
CREATE OR REPLACE FUNCTION ops.sketch_quantile_of(
    keys integer[], counts bigint[], total bigint, q double precision
) RETURNS double precision LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    pos   double precision;
    lo    bigint;
    hi    bigint;
    above bigint := 0;  -- rows in the buckets above bucket i
    vlo   double precision;
    vhi   double precision;
    i     integer;
BEGIN
    IF keys IS NULL OR cardinality(keys) = 0 THEN
        RETURN NULL;
    END IF;
    pos := q * (total - 1);
    lo := floor(pos);
    hi := ceil(pos);
    -- Bucket i holds ranks [total - above - counts[i], total - above) (0-based, ascending).
    FOR i IN REVERSE cardinality(keys) .. 1 LOOP
        above := above + counts[i];
        IF vhi IS NULL AND total - above <= hi THEN
            vhi := ops.runtime_bucket_value(keys[i]);
        END IF;
        IF total - above <= lo THEN
            vlo := ops.runtime_bucket_value(keys[i]);
            EXIT;
        END IF;
    END LOOP;
    RETURN vlo + (pos - lo) * (vhi - vlo);
END $$;

-- ------------------------------------------------------------ writes of changed rows only
-- ops.sync_period (0016, 0030) with the source's unchanged rows left out before the upsert:
-- an ON CONFLICT DO UPDATE whose WHERE is false still probes the key and locks the row it
-- finds, for every row of the period (24,500 per-user rows a day at 200,000 runs an hour:
-- 0.075 s on a rerun, 0.024 s without them). A period with no row yet (a first run) goes to
-- ops.sync_period, whose plain INSERT (0030) is the cheapest write of new rows. Same rows
-- written, same count returned, same statement triggers.
CREATE OR REPLACE FUNCTION ops.sync_period_changes(
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
    same_key text;
    present  boolean;
    deleted  bigint;
    written  bigint;
BEGIN
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s t WHERE t.%I = $1)', p_target, p_period_column)
    INTO present USING p_period;
    IF NOT present THEN
        RETURN ops.sync_period(p_target, p_source, p_period_column, p_period, p_keys, p_values);
    END IF;

    SELECT EXISTS (SELECT 1 FROM pg_attribute
                   WHERE attrelid = p_target AND attname = 'updated_at' AND NOT attisdropped)
    INTO stamped;
    SELECT string_agg(format('s.%1$I = t.%1$I', k), ' AND '),
           string_agg(format('o.%1$I = s.%1$I', k), ' AND ')
    INTO key_eq, same_key FROM unnest(p_keys) k;
    SELECT string_agg(format('%I', c), ', ') INTO cols FROM unnest(p_keys || p_values) c;
    SELECT string_agg(format('%1$I = EXCLUDED.%1$I', v), ', '),
           string_agg(format('t.%I', v), ', '),
           string_agg(format('EXCLUDED.%I', v), ', ')
    INTO sets, old_vals, new_vals FROM unnest(p_values) v;

    EXECUTE format('DELETE FROM %s t WHERE t.%I = $1 AND NOT EXISTS (SELECT 1 FROM %s s WHERE %s)',
                   p_target, p_period_column, p_source, key_eq)
    USING p_period;
    GET DIAGNOSTICS deleted = ROW_COUNT;

    -- The source's rows minus those the period already holds with the same values; the
    -- upsert's WHERE still guards against a row changed since.
    EXECUTE format('INSERT INTO %1$s AS t (%2$I, %3$s%4$s) SELECT $1, %3$s%5$s FROM %6$s s '
                   'WHERE NOT EXISTS (SELECT 1 FROM %1$s o WHERE o.%2$I = $1 AND %12$s '
                   'AND ROW(%13$s) IS NOT DISTINCT FROM ROW(%14$s)) '
                   'ON CONFLICT (%2$I, %7$s) DO UPDATE SET %8$s%9$s '
                   'WHERE ROW(%10$s) IS DISTINCT FROM ROW(%11$s)',
                   p_target, p_period_column, cols,
                   CASE WHEN stamped THEN ', updated_at' ELSE '' END,
                   CASE WHEN stamped THEN ', now()' ELSE '' END,
                   p_source, (SELECT string_agg(format('%I', k), ', ') FROM unnest(p_keys) k),
                   sets, CASE WHEN stamped THEN ', updated_at = EXCLUDED.updated_at' ELSE '' END,
                   old_vals, new_vals, same_key,
                   (SELECT string_agg(format('o.%I', v), ', ') FROM unnest(p_values) v),
                   (SELECT string_agg(format('s.%I', v), ', ') FROM unnest(p_values) v))
    USING p_period;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN deleted + written;
END $$;

ALTER FUNCTION ops.hourly_sketch_merged(uuid, timestamptz, timestamptz) OWNER TO agent_warehouse_owner;
ALTER FUNCTION ops.hourly_sketches_share(timestamptz, timestamptz, integer, integer) OWNER TO agent_warehouse_owner;
ALTER FUNCTION ops.sketch_quantile_of(integer[], bigint[], bigint, double precision) OWNER TO agent_warehouse_owner;
ALTER FUNCTION ops.sync_period_changes(regclass, regclass, text, anyelement, text[], text[]) OWNER TO agent_warehouse_owner;
