-- Daily and weekly rollups built from the hourly partials, the bookkeeping that keeps
-- them exact (which hours were ever rolled up, which days and weeks changed), daily
-- health scores and the stored daily report.

-- ------------------------------------------------------------- bookkeeping
-- Every hour rollup_hour.sql has computed at least once. A daily run rolls up the hours
-- of its day missing here, so it is exact even when hourly runs never happened.
CREATE TABLE IF NOT EXISTS ops.hours_rolled_up (
    hour      timestamptz PRIMARY KEY,
    rolled_at timestamptz NOT NULL DEFAULT now()
);

-- Days and weeks whose hourly partials changed since they were last rolled up. Filled by
-- statement-level triggers on the hourly tables: the hourly upserts only touch rows whose
-- values changed, so the log (and the work of the next daily/weekly run) grows with what
-- changed. Append-only, consumed by the period's rollup like ops.agent_runs_invalidations.
CREATE TABLE IF NOT EXISTS ops.rollup_invalidations (
    grain     text NOT NULL CHECK (grain IN ('day', 'week')),
    period    date NOT NULL,
    logged_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS rollup_invalidations_grain_period ON ops.rollup_invalidations (grain, period);

-- Days and weeks computed at least once (a weekly run computes the days it lacks).
CREATE TABLE IF NOT EXISTS ops.periods_rolled_up (
    grain     text NOT NULL CHECK (grain IN ('day', 'week')),
    period    date NOT NULL,
    rolled_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (grain, period)
);

CREATE OR REPLACE FUNCTION ops.log_hourly_rollup_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ops.rollup_invalidations (grain, period)
    SELECT DISTINCT g.grain, g.period
    FROM (SELECT DISTINCT hour FROM changed_rows) h
    CROSS JOIN LATERAL (VALUES ('day', (h.hour AT TIME ZONE 'UTC')::date),
                               ('week', date_trunc('week', h.hour AT TIME ZONE 'UTC')::date)) g(grain, period);
    RETURN NULL;
END $$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['execution_metrics_hourly', 'runtime_sketch_hourly', 'user_activity_hourly'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON analytics.%I', t || '_log_insert', t);
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON analytics.%I REFERENCING NEW TABLE AS changed_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION ops.log_hourly_rollup_changed()', t || '_log_insert', t);
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON analytics.%I', t || '_log_update', t);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON analytics.%I REFERENCING NEW TABLE AS changed_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION ops.log_hourly_rollup_changed()', t || '_log_update', t);
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON analytics.%I', t || '_log_delete', t);
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON analytics.%I REFERENCING OLD TABLE AS changed_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION ops.log_hourly_rollup_changed()', t || '_log_delete', t);
    END LOOP;
END $$;

-- ------------------------------------------------------------- daily rollups
CREATE TABLE IF NOT EXISTS analytics.execution_metrics_daily (
    workspace_id          uuid NOT NULL,
    day                   date NOT NULL,
    total_executions      bigint NOT NULL,
    successful_executions bigint NOT NULL,
    failed_executions     bigint NOT NULL,
    avg_runtime           double precision,
    p95_runtime           double precision,
    total_credits         numeric NOT NULL,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, day)
);
CREATE INDEX IF NOT EXISTS execution_metrics_daily_day ON analytics.execution_metrics_daily (day);

-- The day's merged runtime sketch per workspace: the weekly rollup merges seven of these.
CREATE TABLE IF NOT EXISTS analytics.runtime_sketch_daily (
    workspace_id  uuid NOT NULL,
    day           date NOT NULL,
    runtime_count bigint NOT NULL,
    runtime_sum   double precision NOT NULL,
    bucket_keys   integer[] NOT NULL,
    bucket_counts bigint[] NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, day)
);
CREATE INDEX IF NOT EXISTS runtime_sketch_daily_day ON analytics.runtime_sketch_daily (day);

-- Per user and day (runs without a user under the nil UUID): exact distinct users for
-- the day, and the input of the weekly distinct count.
CREATE TABLE IF NOT EXISTS analytics.user_activity_daily (
    workspace_id uuid NOT NULL,
    day          date NOT NULL,
    user_id      uuid NOT NULL,
    runs         bigint NOT NULL,
    credits      numeric NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, day, user_id)
);
CREATE INDEX IF NOT EXISTS user_activity_daily_day ON analytics.user_activity_daily (day);

CREATE TABLE IF NOT EXISTS analytics.workspace_activity_daily (
    workspace_id     uuid NOT NULL,
    day              date NOT NULL,
    active_users     bigint NOT NULL,
    runs             bigint NOT NULL,
    runs_per_user    double precision NOT NULL,
    total_credits    numeric NOT NULL,
    credits_per_user numeric NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, day)
);
CREATE INDEX IF NOT EXISTS workspace_activity_daily_day ON analytics.workspace_activity_daily (day);

-- ------------------------------------------------------------ weekly rollups
CREATE TABLE IF NOT EXISTS analytics.execution_metrics_weekly (
    workspace_id          uuid NOT NULL,
    week_start            date NOT NULL,
    total_executions      bigint NOT NULL,
    successful_executions bigint NOT NULL,
    failed_executions     bigint NOT NULL,
    avg_runtime           double precision,
    p95_runtime           double precision,
    total_credits         numeric NOT NULL,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, week_start)
);
CREATE INDEX IF NOT EXISTS execution_metrics_weekly_week ON analytics.execution_metrics_weekly (week_start);

CREATE TABLE IF NOT EXISTS analytics.runtime_sketch_weekly (
    workspace_id  uuid NOT NULL,
    week_start    date NOT NULL,
    runtime_count bigint NOT NULL,
    runtime_sum   double precision NOT NULL,
    bucket_keys   integer[] NOT NULL,
    bucket_counts bigint[] NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, week_start)
);

CREATE TABLE IF NOT EXISTS analytics.workspace_activity_weekly (
    workspace_id     uuid NOT NULL,
    week_start       date NOT NULL,
    active_users     bigint NOT NULL,
    runs             bigint NOT NULL,
    runs_per_user    double precision NOT NULL,
    total_credits    numeric NOT NULL,
    credits_per_user numeric NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, week_start)
);

-- ------------------------------------------------------------- health scores
-- One row per workspace and day; formula in docs/health.md (include/sql/daily/health_day.sql).
CREATE TABLE IF NOT EXISTS analytics.workspace_health_daily (
    workspace_id       uuid NOT NULL,
    day                date NOT NULL,
    score              double precision NOT NULL CHECK (score BETWEEN 0 AND 100),
    band               text NOT NULL CHECK (band IN ('healthy', 'watch', 'at_risk')),
    success_rate       double precision,
    p95_ratio          double precision,
    credit_ratio       double precision,
    activity_ratio     double precision,
    success_points     double precision NOT NULL,
    latency_points     double precision NOT NULL,
    credit_points      double precision NOT NULL,
    activity_points    double precision NOT NULL,
    baseline_days      integer NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, day)
);
CREATE INDEX IF NOT EXISTS workspace_health_daily_day ON analytics.workspace_health_daily (day);

-- ----------------------------------------------------------- daily reports
CREATE TABLE IF NOT EXISTS analytics.daily_reports (
    day        date PRIMARY KEY,
    report     jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
