-- The catch-up as one pg_cron job per hour, all due at the next whole minute (a schedule
-- that fires once, as in cron_loop.sql): each takes the
-- next hour from a queue (SKIP LOCKED), so they run side by side.
DELETE FROM peer.catch_up_window;
INSERT INTO peer.catch_up_window VALUES (%(first_hour)s, %(hours)s, %(compression)s);
DELETE FROM peer.hour_queue;
INSERT INTO peer.hour_queue
SELECT %(first_hour)s::timestamptz + i * interval '1 hour' FROM generate_series(0, %(hours)s - 1) AS i;
SELECT array_agg(cron.schedule('peer-hour-' || i, %(schedule)s, 'CALL peer.rollup_next_hour()'))
FROM generate_series(1, %(hours)s) AS i;
