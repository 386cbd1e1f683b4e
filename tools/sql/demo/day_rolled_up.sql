-- Whether a day of the demo's history is rolled up (a second demo skips the history).
SELECT EXISTS (SELECT 1 FROM analytics.execution_metrics_daily WHERE day = %(day)s::date) AS rolled_up;
