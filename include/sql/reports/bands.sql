SELECT band, count(*) FROM analytics.workspace_health_daily WHERE day = %(day)s::date GROUP BY band ORDER BY band;
