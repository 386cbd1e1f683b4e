-- Remove the catch-up jobs once every run has ended (a running job's removal cancels it).
SELECT count(cron.unschedule(j)) FROM unnest(%(jobs)s::bigint[]) AS j;
