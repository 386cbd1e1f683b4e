-- Empty the alternative's rollup rows of one hour, so a timed run computes it from scratch.
DELETE FROM peer.metrics_hourly WHERE hour = %(start)s::timestamptz;
DELETE FROM peer.user_activity_hourly WHERE hour = %(start)s::timestamptz;
