-- Periods before ``end`` whose inputs changed, and periods in [start, end) never computed.
-- Retention deletions log nothing (migration 0012), so an entry is a real change; a period
-- past retention that is named anyway is kept by its rollup's guard, which consumes the entry.
SELECT DISTINCT period FROM ops.rollup_invalidations
WHERE grain = %(grain)s AND period < %(end)s::date
UNION
SELECT p::date
FROM generate_series(%(start)s::date::timestamp, %(end)s::date - %(step)s::interval, %(step)s::interval) p
WHERE NOT EXISTS (SELECT 1 FROM ops.periods_rolled_up r WHERE r.grain = %(grain)s AND r.period = p::date)
ORDER BY 1
