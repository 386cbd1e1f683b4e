-- Scores and the ranked emerging-companies list of one workspace, pack and UTC day,
-- from signals.company_features_daily. One transaction; a rerun rewrites nothing.
SELECT pg_advisory_xact_lock(hashtextextended(%(workspace_id)s::text || '/' || %(pack_id)s, ops.lock_key('signals_score')));

WITH pack AS (
    SELECT weights, band_thresholds FROM signals.scoring_packs WHERE pack_id = %(pack_id)s
), w AS (
    SELECT key AS signal_type, (value #>> '{}')::double precision AS weight
    FROM pack, jsonb_each(pack.weights)
    WHERE (value #>> '{}')::double precision > 0
), strength AS (
    -- Per type, 0..1: 70 %% the 7-day velocity, 30 %% the 30-day one, each full at 4x baseline.
    SELECT f.company_id, f.signal_type,
           0.7 * least(1.0, f.velocity_7d / 4.0) + 0.3 * least(1.0, f.velocity_30d / 4.0) AS s
    FROM signals.company_features_daily f
    WHERE f.day = %(day)s::date
), comp AS (
    SELECT s.company_id,
           round((100.0 * sum(w.weight * s.s) / (SELECT sum(total.weight) FROM w total))::numeric, 2) AS composite,
           jsonb_object_agg(s.signal_type, round(s.s::numeric, 4) ORDER BY s.signal_type) AS components
    FROM strength s JOIN w USING (signal_type)
    GROUP BY s.company_id
), banded AS (
    SELECT c.*,
           coalesce((SELECT t.key FROM pack, jsonb_each(pack.band_thresholds) t
                     WHERE c.composite >= (t.value #>> '{}')::numeric
                     ORDER BY (t.value #>> '{}')::numeric DESC LIMIT 1), 'cold') AS band
    FROM comp c
), up AS (
    INSERT INTO signals.company_scores_daily AS t
        (workspace_id, pack_id, company_id, day, composite, band, components, updated_at)
    SELECT %(workspace_id)s::uuid, %(pack_id)s, company_id, %(day)s::date, composite, band, components, now()
    FROM banded
    ON CONFLICT (workspace_id, pack_id, day, company_id) DO UPDATE SET
        composite = EXCLUDED.composite, band = EXCLUDED.band, components = EXCLUDED.components,
        updated_at = EXCLUDED.updated_at
    WHERE (t.composite, t.band, t.components)
          IS DISTINCT FROM (EXCLUDED.composite, EXCLUDED.band, EXCLUDED.components)
    RETURNING 1
)
DELETE FROM signals.company_scores_daily t
WHERE t.workspace_id = %(workspace_id)s::uuid AND t.pack_id = %(pack_id)s AND t.day = %(day)s::date
  AND NOT EXISTS (SELECT 1 FROM banded b WHERE b.company_id = t.company_id);

-- The ranked list: companies with a composite above 0, best first, ties by name.
WITH ranked AS (
    SELECT row_number() OVER (ORDER BY s.composite DESC, c.name ASC, s.company_id ASC)::int AS rank,
           s.company_id, c.name, s.composite, s.band
    FROM signals.company_scores_daily s
    JOIN signals.companies c USING (company_id)
    WHERE s.workspace_id = %(workspace_id)s::uuid AND s.pack_id = %(pack_id)s AND s.day = %(day)s::date
      AND s.composite > 0
    ORDER BY rank
    LIMIT %(top_n)s
), up AS (
    INSERT INTO signals.emerging_companies AS t
        (workspace_id, pack_id, day, rank, company_id, company_name, composite, band, updated_at)
    SELECT %(workspace_id)s::uuid, %(pack_id)s, %(day)s::date, rank, company_id, name, composite, band, now()
    FROM ranked
    ON CONFLICT (workspace_id, pack_id, day, rank) DO UPDATE SET
        company_id = EXCLUDED.company_id, company_name = EXCLUDED.company_name,
        composite = EXCLUDED.composite, band = EXCLUDED.band, updated_at = EXCLUDED.updated_at
    WHERE (t.company_id, t.company_name, t.composite, t.band)
          IS DISTINCT FROM (EXCLUDED.company_id, EXCLUDED.company_name, EXCLUDED.composite, EXCLUDED.band)
    RETURNING 1
)
DELETE FROM signals.emerging_companies t
WHERE t.workspace_id = %(workspace_id)s::uuid AND t.pack_id = %(pack_id)s AND t.day = %(day)s::date
  AND t.rank > (SELECT count(*) FROM ranked);

SELECT (SELECT count(*) FROM signals.company_scores_daily
        WHERE workspace_id = %(workspace_id)s::uuid AND pack_id = %(pack_id)s AND day = %(day)s::date),
       (SELECT count(*) FROM signals.emerging_companies
        WHERE workspace_id = %(workspace_id)s::uuid AND pack_id = %(pack_id)s AND day = %(day)s::date);
