-- Refresh the planner's statistics of agent_runs itself (the (workspace, user) pair counts
-- the hourly step's plan depends on, migration 0020); autovacuum never analyzes a
-- partitioned table's parent.
SELECT ops.analyze_agent_runs();
