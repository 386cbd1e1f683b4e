-- The alternative's exact daily outputs, to compare with the package's where they overlap.
SELECT workspace_id, day, total_executions, successful_executions, failed_executions, total_credits,
       avg_runtime, active_users
FROM peer.metrics_daily WHERE day >= %(first_day)s AND day < %(end_day)s;
