-- Empty the alternative's hourly rows of the window (before a catch-up, untimed).
DELETE FROM peer.metrics_hourly WHERE hour >= %(first_hour)s AND hour < %(end_hour)s;
DELETE FROM peer.user_activity_hourly WHERE hour >= %(first_hour)s AND hour < %(end_hour)s;
