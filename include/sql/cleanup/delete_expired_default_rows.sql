-- One small batch of default-partition rows before the retention horizon (row locks only);
-- the caller repeats until a batch comes back short.
SELECT ops.delete_expired_default_rows(%(batch)s::integer);
