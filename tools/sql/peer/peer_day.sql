-- The alternative's daily job: the day from its hourly rows and digests.
SELECT peer.rollup_day(%(day)s::date);
