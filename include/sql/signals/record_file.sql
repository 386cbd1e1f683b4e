-- What became of one drop file (signals.provider_files, migration 0024).
INSERT INTO signals.provider_files AS f
    (provider, path, fingerprint, size_bytes, status, lines, inserted, rejected, error, read_at)
VALUES (%(provider)s, %(path)s, %(fingerprint)s, %(size)s, %(status)s, %(lines)s, %(inserted)s,
        %(rejected_count)s, %(error)s, now())
ON CONFLICT (provider, path) DO UPDATE SET
    fingerprint = EXCLUDED.fingerprint, size_bytes = EXCLUDED.size_bytes, status = EXCLUDED.status,
    lines = EXCLUDED.lines, inserted = EXCLUDED.inserted, rejected = EXCLUDED.rejected,
    error = EXCLUDED.error, read_at = EXCLUDED.read_at;
