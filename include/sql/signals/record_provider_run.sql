-- One outcome per provider and window: a later window never overwrites an earlier one's failure.
INSERT INTO signals.provider_runs AS p
    (provider, day, window_start, window_end, status, fetched, inserted, rejected, error, updated_at)
VALUES (%(provider)s, %(day)s, %(window_start)s, %(window_end)s, %(status)s, %(fetched)s,
        %(inserted)s, %(rejected_count)s, %(error)s, now())
ON CONFLICT (provider, window_start, window_end) DO UPDATE SET
    status = EXCLUDED.status, fetched = EXCLUDED.fetched, inserted = EXCLUDED.inserted,
    rejected = EXCLUDED.rejected, error = EXCLUDED.error, updated_at = EXCLUDED.updated_at;
