-- Empty the package's daily rows of one day, so a timed run computes it from scratch.
DELETE FROM analytics.execution_metrics_daily WHERE day = %(day)s::date;
DELETE FROM analytics.runtime_sketch_daily WHERE day = %(day)s::date;
DELETE FROM analytics.user_activity_daily WHERE day = %(day)s::date;
DELETE FROM analytics.workspace_activity_daily WHERE day = %(day)s::date;
