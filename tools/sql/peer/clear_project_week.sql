-- Empty the package's weekly rows of one week, so a timed run computes it from scratch.
DELETE FROM analytics.execution_metrics_weekly WHERE week_start = %(week)s::date;
DELETE FROM analytics.runtime_sketch_weekly WHERE week_start = %(week)s::date;
DELETE FROM analytics.workspace_activity_weekly WHERE week_start = %(week)s::date;
