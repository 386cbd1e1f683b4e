-- Lines of one delivery set aside (%(rejected)s: jsonb array of {reason, payload, payload_hash}).
INSERT INTO signals.rejected_signals (provider, day, reason, payload, payload_hash)
SELECT %(provider)s, %(day)s, r.reason, r.payload, r.payload_hash
FROM jsonb_to_recordset(%(rejected)s::jsonb) r(reason text, payload jsonb, payload_hash text)
ON CONFLICT (provider, payload_hash) DO NOTHING;
