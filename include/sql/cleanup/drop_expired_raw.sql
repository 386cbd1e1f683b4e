-- Drop raw partitions before keep_from through the owner's function: an O(hours) check, then
-- a few milliseconds of ACCESS EXCLUSIVE taken with a short, retried lock_timeout (migration 0013).
SELECT ops.drop_expired_agent_runs(%(keep_from)s::date);
