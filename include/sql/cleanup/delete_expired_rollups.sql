-- Rollup and audit rows past their retention. One transaction; small, indexed deletes.
-- Hourly rollups go through the owner's function (migration 0012): never past the raw
-- horizon nor past a period still waiting for its recompute, and the horizon reached is
-- recorded, so daily and weekly rollups know which periods can no longer be recomputed.
-- Since migration 0029 it deletes without the hourly tables' row and statement triggers
-- (taken away and put back in this transaction), counting the rows written itself.
WITH h AS (
    SELECT ops.delete_expired_hourly(%(hourly_before)s::timestamptz) AS done
), j AS (
    DELETE FROM ops.job_runs WHERE started_at < %(job_runs_before)s::timestamptz RETURNING 1
), d AS (
    DELETE FROM ops.deadline_misses WHERE recorded_at < %(job_runs_before)s::timestamptz RETURNING 1
)
SELECT (SELECT (done->>'hourly_rows')::bigint FROM h) AS hourly_rows,
       (SELECT (done->>'rejected_rows')::bigint FROM h) AS rejected_rows,
       (SELECT count(*) FROM j) AS job_runs,
       (SELECT count(*) FROM d) AS deadline_misses;
