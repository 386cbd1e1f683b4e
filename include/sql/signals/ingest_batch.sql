-- One provider's delivery for one ingest window [window_start, window_end), in one transaction.
-- %(rows)s: jsonb array of validated rows; %(rejected)s: jsonb array of {reason, payload, payload_hash}.
INSERT INTO signals.companies (name)
SELECT DISTINCT ON (lower(r.company)) r.company
FROM jsonb_to_recordset(%(rows)s::jsonb) r(company text)
ORDER BY lower(r.company), r.company
ON CONFLICT ((lower(name))) DO NOTHING;

INSERT INTO signals.rejected_signals (provider, day, reason, payload, payload_hash)
SELECT %(provider)s, %(day)s, r.reason, r.payload, r.payload_hash
FROM jsonb_to_recordset(%(rejected)s::jsonb) r(reason text, payload jsonb, payload_hash text)
ON CONFLICT (provider, payload_hash) DO NOTHING;

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
-- One outcome per window: a later window never overwrites an earlier one's failure.
INSERT INTO signals.provider_runs AS p
    (provider, day, window_start, window_end, status, fetched, inserted, rejected, error, updated_at)
SELECT %(provider)s, %(day)s, %(window_start)s, %(window_end)s, %(status)s, %(fetched)s,
       (SELECT count(*) FROM ins), %(rejected_count)s, %(error)s, now()
ON CONFLICT (provider, window_start, window_end) DO UPDATE SET
    status = EXCLUDED.status, fetched = EXCLUDED.fetched, inserted = EXCLUDED.inserted,
    rejected = EXCLUDED.rejected, error = EXCLUDED.error, updated_at = EXCLUDED.updated_at
RETURNING p.inserted;
