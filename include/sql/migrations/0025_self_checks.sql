-- The warehouse checks itself (issue 21): reconciliation incidents, the freshness view and
-- the workspace anomalies. The Python side is agent_warehouse/checks/, the queries
-- include/sql/checks/.

-- ------------------------------------------------------ reconciliation incidents
-- One row per period a run wrote whose rows disagreed with that period's source (in one
-- snapshot), per table. The run re-rolls the period and checks it again: the outcome says
-- whether that fixed it ('repaired') or not ('still_wrong': the run failed naming it).
CREATE TABLE IF NOT EXISTS ops.reconciliation_incidents (
    id            bigserial PRIMARY KEY,
    found_at      timestamptz NOT NULL DEFAULT now(),
    grain         text NOT NULL CHECK (grain IN ('hour', 'day', 'week')),
    period        timestamptz NOT NULL,   -- the period's start, UTC
    table_name    text NOT NULL,
    what_differed text NOT NULL,          -- one line, for people
    details       jsonb NOT NULL DEFAULT '[]',  -- the first differences: workspace, column, rollup, source
    mismatches    integer NOT NULL,       -- every difference found, not only those in details
    dag_id        text,
    run_id        text,
    outcome       text NOT NULL DEFAULT 'found' CHECK (outcome IN ('found', 'repaired', 'still_wrong')),
    checked_again_at timestamptz
);
CREATE INDEX IF NOT EXISTS reconciliation_incidents_period ON ops.reconciliation_incidents (period);
CREATE INDEX IF NOT EXISTS reconciliation_incidents_found_at ON ops.reconciliation_incidents (found_at);

-- ------------------------------------------------------ workspace anomalies
-- Workspace-hours whose failure rate or p95 runtime departs from the workspace's own
-- trailing 7-day baseline for the same hour of day (agent_warehouse/checks/anomalies.py
-- says which statistic). Rewritten per hour by the check; notified_at is set once a
-- notifier was sent the row, so a re-check never sends it twice.
CREATE TABLE IF NOT EXISTS analytics.workspace_anomalies_hourly (
    workspace_id  uuid NOT NULL,
    hour          timestamptz NOT NULL,
    metric        text NOT NULL CHECK (metric IN ('failure_rate', 'p95_runtime')),
    value         double precision NOT NULL,
    baseline      double precision NOT NULL,
    score         double precision NOT NULL,
    runs          bigint NOT NULL,
    baseline_runs bigint NOT NULL,
    baseline_days integer NOT NULL,
    detected_at   timestamptz NOT NULL DEFAULT now(),
    notified_at   timestamptz,
    PRIMARY KEY (workspace_id, hour, metric)
);
CREATE INDEX IF NOT EXISTS workspace_anomalies_hourly_hour ON analytics.workspace_anomalies_hourly (hour);

-- ------------------------------------------------------ freshness
-- One row per rollup table. newest_period: the newest complete period rolled up (the
-- bookkeeping tables ops.hours_rolled_up and ops.periods_rolled_up, written in the
-- period's own transaction); pending_periods: periods waiting in the invalidation logs.
-- A pending hour makes its day pending too once that day was rolled up (its rollup will
-- change when the hour is re-rolled), and a pending day its week. Hours before the raw
-- retention horizon are final (hourly/dirty_hours.sql) and not counted.
-- lag: now minus the end of the newest complete period rolled up.
CREATE OR REPLACE VIEW ops.rollup_freshness AS
WITH pending_hours AS (
    SELECT DISTINCT i.hour
    FROM ops.agent_runs_invalidations i
    WHERE i.hour >= coalesce((SELECT raw_kept_from FROM ops.retention_state), '-infinity'::timestamptz)
), pending_days AS (
    SELECT r.period FROM ops.rollup_invalidations r WHERE r.grain = 'day'
    UNION
    SELECT (h.hour AT TIME ZONE 'UTC')::date
    FROM pending_hours h
    WHERE EXISTS (SELECT 1 FROM ops.periods_rolled_up p
                  WHERE p.grain = 'day' AND p.period = (h.hour AT TIME ZONE 'UTC')::date)
), pending_weeks AS (
    SELECT r.period FROM ops.rollup_invalidations r WHERE r.grain = 'week'
    UNION
    SELECT date_trunc('week', d.period)::date
    FROM pending_days d
    WHERE EXISTS (SELECT 1 FROM ops.periods_rolled_up p
                  WHERE p.grain = 'week' AND p.period = date_trunc('week', d.period)::date)
), grains AS (
    SELECT 'hour' AS grain, INTERVAL '1 hour' AS step,
           (SELECT max(r.hour) FROM ops.hours_rolled_up r WHERE r.hour + INTERVAL '1 hour' <= now()) AS newest,
           (SELECT count(*) FROM pending_hours) AS pending,
           (SELECT min(hour) FROM pending_hours) AS oldest
    UNION ALL
    SELECT 'day', INTERVAL '1 day',
           (SELECT max(p.period) FROM ops.periods_rolled_up p
            WHERE p.grain = 'day' AND p.period + 1 <= (now() AT TIME ZONE 'UTC')::date)::timestamp AT TIME ZONE 'UTC',
           (SELECT count(*) FROM pending_days),
           (SELECT min(period) FROM pending_days)::timestamp AT TIME ZONE 'UTC'
    UNION ALL
    SELECT 'week', INTERVAL '7 days',
           (SELECT max(p.period) FROM ops.periods_rolled_up p
            WHERE p.grain = 'week' AND p.period + 7 <= (now() AT TIME ZONE 'UTC')::date)::timestamp AT TIME ZONE 'UTC',
           (SELECT count(*) FROM pending_weeks),
           (SELECT min(period) FROM pending_weeks)::timestamp AT TIME ZONE 'UTC'
)
SELECT t.table_name,
       g.grain,
       g.newest AS newest_period,
       g.pending AS pending_periods,
       g.oldest AS oldest_pending,
       now() - (g.newest + g.step) AS lag
FROM grains g
JOIN (VALUES ('analytics.execution_metrics_hourly', 'hour', 1),
             ('analytics.runtime_sketch_hourly', 'hour', 2),
             ('analytics.user_activity_hourly', 'hour', 3),
             ('analytics.workspace_activity_hourly', 'hour', 4),
             ('ops.rejected_runs_hourly', 'hour', 5),
             ('analytics.execution_metrics_daily', 'day', 6),
             ('analytics.runtime_sketch_daily', 'day', 7),
             ('analytics.user_activity_daily', 'day', 8),
             ('analytics.workspace_activity_daily', 'day', 9),
             ('analytics.execution_metrics_weekly', 'week', 10),
             ('analytics.runtime_sketch_weekly', 'week', 11),
             ('analytics.workspace_activity_weekly', 'week', 12)) t(table_name, grain, ord)
    ON t.grain = g.grain
ORDER BY t.ord;

-- The owner owns what it created; the jobs read the view and write the two tables (default
-- privileges of migration 0003 cover the tables, not every set-up's views).
ALTER TABLE ops.reconciliation_incidents OWNER TO agent_warehouse_owner;
ALTER TABLE analytics.workspace_anomalies_hourly OWNER TO agent_warehouse_owner;
ALTER VIEW ops.rollup_freshness OWNER TO agent_warehouse_owner;
GRANT SELECT ON ops.rollup_freshness TO agent_warehouse_job;
GRANT SELECT, INSERT, UPDATE ON ops.reconciliation_incidents TO agent_warehouse_job;
GRANT USAGE, SELECT ON SEQUENCE ops.reconciliation_incidents_id_seq TO agent_warehouse_job;
GRANT SELECT, INSERT, UPDATE, DELETE ON analytics.workspace_anomalies_hourly TO agent_warehouse_job;
GRANT SELECT ON analytics.workspace_anomalies_hourly TO agent_warehouse_reader;
