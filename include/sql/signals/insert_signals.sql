-- Validated rows of one delivery (%(rows)s, a jsonb array): their companies, then the rows.
INSERT INTO signals.companies (name)
SELECT DISTINCT ON (lower(r.company)) r.company
FROM jsonb_to_recordset(%(rows)s::jsonb) r(company text)
ORDER BY lower(r.company), r.company
ON CONFLICT ((lower(name))) DO NOTHING;

-- Keyed by (provider, external_id): a rerun or a re-delivery inserts nothing.
WITH ins AS (
    INSERT INTO signals.raw_signals (provider, external_id, company_id, signal_type, observed_at, value)
    SELECT %(provider)s, r.external_id, c.company_id, r.signal_type, r.observed_at, r.value
    FROM jsonb_to_recordset(%(rows)s::jsonb)
         r(external_id text, company text, signal_type text, observed_at timestamptz,
           value double precision)
    JOIN signals.companies c ON lower(c.name) = lower(r.company)
    ON CONFLICT (provider, external_id) DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM ins;
