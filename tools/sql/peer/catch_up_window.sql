-- The window peer.catch_up() rolls up, for a direct CALL (no pg_cron job).
DELETE FROM peer.catch_up_window;
INSERT INTO peer.catch_up_window VALUES (%(first_hour)s, %(hours)s, %(compression)s);
