-- How fresh every rollup table is (the view of migration 0025), oldest grain first.
SELECT table_name, grain, newest_period, pending_periods, oldest_pending, lag
FROM ops.rollup_freshness
