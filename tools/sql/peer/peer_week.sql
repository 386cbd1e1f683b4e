-- The alternative's weekly job: the ISO week from its daily rows and digests.
SELECT peer.rollup_week(%(week)s::date);
