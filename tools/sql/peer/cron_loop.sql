-- The catch-up as one pg_cron job: the procedure rolls up every hour of the window, one
-- transaction each. pg_cron 1.4 schedules at whole minutes and has no one-shot job: the
-- schedule names the next whole minute (minute hour day month), so it fires once; unscheduling
-- a running job would cancel it.
DELETE FROM peer.catch_up_window;
INSERT INTO peer.catch_up_window VALUES (%(first_hour)s, %(hours)s, %(compression)s);
SELECT ARRAY[cron.schedule('peer-catch-up', %(schedule)s, 'CALL peer.catch_up()')];
