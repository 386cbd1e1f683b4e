-- The flagged rows a notifier was sent (their keys), so a re-check never sends them twice.
UPDATE analytics.workspace_anomalies_hourly a
SET notified_at = now()
FROM unnest(%(workspaces)s::uuid[], %(hours)s::timestamptz[], %(metrics)s::text[]) k(workspace_id, hour, metric)
WHERE a.workspace_id = k.workspace_id AND a.hour = k.hour AND a.metric = k.metric
