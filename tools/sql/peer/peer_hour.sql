-- The alternative's hourly job for one hour, in one transaction (what pg_cron would run).
SELECT peer.rollup_hour(%(start)s::timestamptz, %(compression)s);
