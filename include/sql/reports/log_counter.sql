-- The session's rows-written counter (migration 0014) and the transaction's clock: read
-- before and after a rollup, for its closing log line.
SELECT ops.rows_written(), now();
