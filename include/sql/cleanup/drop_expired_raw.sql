-- Drop raw days before keep_from through the owner's function (checks, then drops).
SELECT ops.drop_expired_agent_runs(%(keep_from)s::date);
