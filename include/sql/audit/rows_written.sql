-- Rollup rows this session inserted, updated or deleted (the counter of migration 0014).
SELECT ops.rows_written()
