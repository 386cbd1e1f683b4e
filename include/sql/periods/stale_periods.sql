-- Periods before ``end`` whose partials changed, and periods in [start, end) never computed.
SELECT DISTINCT period FROM ops.rollup_invalidations
WHERE grain = %(grain)s AND period < %(end)s::date
UNION
SELECT p::date
FROM generate_series(%(start)s::date::timestamp, %(end)s::date - %(step)s::interval, %(step)s::interval) p
WHERE NOT EXISTS (SELECT 1 FROM ops.periods_rolled_up r WHERE r.grain = %(grain)s AND r.period = p::date)
ORDER BY 1
