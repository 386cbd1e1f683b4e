-- One small batch of default-partition rows before the retention horizon (row locks only);
-- the caller repeats until it deletes nothing.
SELECT ops.delete_expired_default_rows(%(batch)s::integer);
