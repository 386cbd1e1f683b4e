-- Refresh one dashboard view CONCURRENTLY (readers are not blocked); returns seconds taken.
SELECT ops.refresh_dashboard_view(%(name)s);
