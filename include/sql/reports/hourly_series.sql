-- The 24 hours of %(day)s (UTC), all workspaces together: executions and failures per hour.
WITH hours AS (
    SELECT h AS hour
    FROM generate_series(%(day)s::date::timestamp AT TIME ZONE 'UTC',
                         (%(day)s::date::timestamp + interval '23 hours') AT TIME ZONE 'UTC',
                         interval '1 hour') h
), m AS (
    SELECT hour, sum(total_executions)::bigint AS executions, sum(failed_executions)::bigint AS failed
    FROM analytics.execution_metrics_hourly
    WHERE hour >= %(day)s::date::timestamp AT TIME ZONE 'UTC'
      AND hour < (%(day)s::date::timestamp + interval '1 day') AT TIME ZONE 'UTC'
    GROUP BY hour
)
SELECT to_char(hours.hour AT TIME ZONE 'UTC', 'HH24:MI'), coalesce(m.executions, 0), coalesce(m.failed, 0)
FROM hours LEFT JOIN m USING (hour)
ORDER BY hours.hour;
