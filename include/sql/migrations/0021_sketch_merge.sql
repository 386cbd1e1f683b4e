-- One way to merge runtime sketches (the day from its hours, the week from its days): the
-- per-workspace arrays concatenated, then summed bucket by bucket. Per workspace, so each
-- merge hashes a few hundred buckets rather than every (workspace, bucket) of the period.
-- array_cat as an aggregate: the keys and counts aggregates of one GROUP BY see the same
-- rows in the same order, so the two concatenations stay paired.
CREATE OR REPLACE AGGREGATE ops.array_concat_agg(anycompatiblearray) (
    SFUNC = array_cat,
    STYPE = anycompatiblearray
);

-- Sketches' buckets (keys and counts, concatenated, in any order) summed per key, in key
-- order: the merged sketch.
CREATE OR REPLACE FUNCTION ops.sketch_merge(
    keys integer[], counts bigint[], OUT bucket_keys integer[], OUT bucket_counts bigint[]
) LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_agg(g.k ORDER BY g.k), array_agg(g.c ORDER BY g.k)
    FROM (SELECT u.k, sum(u.c)::bigint AS c FROM unnest(keys, counts) u(k, c) GROUP BY u.k) g
$$;

ALTER AGGREGATE ops.array_concat_agg(anycompatiblearray) OWNER TO agent_warehouse_owner;
ALTER FUNCTION ops.sketch_merge(integer[], bigint[]) OWNER TO agent_warehouse_owner;
