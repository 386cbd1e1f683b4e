"""Integration set-up: a private metadata database and warehouse on the embedded PostgreSQL.

Everything Airflow reads at import time is set in ``pytest_configure``, before any test
module imports airflow. Database names carry the process id, so suites running side by
side never share state; they are dropped at the end.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

from support import ROOT
from tools import devdb

META_DB = f"test_meta_{os.getpid()}"
WAREHOUSE_DB = f"test_wh_{os.getpid()}"


def pytest_configure(config: pytest.Config) -> None:
    devdb.server()
    devdb.ensure_database(META_DB)
    devdb.ensure_database(WAREHOUSE_DB)
    os.environ.update({
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": devdb.sqlalchemy_uri(META_DB),
        "AIRFLOW_CONN_WAREHOUSE": devdb.connection_uri(WAREHOUSE_DB),
    })


def pytest_unconfigure(config: pytest.Config) -> None:
    if "airflow.settings" in sys.modules:  # close Airflow's pool before its database goes
        sys.modules["airflow.settings"].dispose_orm()
    for name in (META_DB, WAREHOUSE_DB):
        try:
            devdb.drop_database(name)
        except Exception as exc:  # leave it for the next run rather than fail the suite
            print(f"could not drop {name}: {exc}", file=sys.stderr)


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Airflow's metadata database, created once per session."""
    from airflow.models.pool import Pool
    from airflow.utils.db import initdb

    from agent_warehouse import settings

    initdb()
    # Every task runs in the warehouse pool (as `make airflow-db` creates it).
    Pool.create_or_update_pool(settings.WAREHOUSE_POOL, settings.WAREHOUSE_POOL_SLOTS,
                               "Tasks writing to the warehouse", include_deferred=False)


@pytest.fixture(scope="session")
def migrated() -> None:
    from agent_warehouse.db import connect, migrations

    conn = connect()
    migrations.migrate(conn)
    # What the migrations seed, kept aside: a test may delete it (the job role's every-write
    # test does, as the grants allow), and every test starts from it (see `wh`).
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS public.test_seed_scoring_packs AS TABLE signals.scoring_packs")
    conn.commit()
    conn.close()


TABLES_TO_CLEAN = (
    "public.agent_runs",
    "ops.agent_runs_invalidations",
    "analytics.execution_metrics_hourly",
    "analytics.runtime_sketch_hourly",
    "analytics.user_activity_hourly",
    "analytics.workspace_activity_hourly",
    "ops.rejected_runs_hourly",
    "ops.job_runs",
    # daily and weekly rollups (migration 0002)
    "ops.hours_rolled_up",
    "ops.rollup_invalidations",
    "ops.periods_rolled_up",
    "analytics.execution_metrics_daily",
    "analytics.runtime_sketch_daily",
    "analytics.user_activity_daily",
    "analytics.workspace_activity_daily",
    "analytics.execution_metrics_weekly",
    "analytics.runtime_sketch_weekly",
    "analytics.workspace_activity_weekly",
    "analytics.workspace_health_daily",
    "analytics.daily_reports",
    "ops.retention_state",
    "ops.deadline_misses",
    # self-checks (migration 0025)
    "ops.reconciliation_incidents",
    "analytics.workspace_anomalies_hourly",
    # signals; scoring_packs keeps its seeded packs
    "signals.raw_signals",
    "signals.rejected_signals",
    "signals.provider_runs",
    "signals.provider_files",
    "signals.company_features_daily",
    "signals.company_scores_daily",
    "signals.emerging_companies",
    "signals.workspace_packs",
    "signals.companies",
)


@pytest.fixture()
def wh(migrated) -> Any:
    """A connection (psycopg 3, not autocommit) to an empty warehouse (schema kept, rows removed)."""
    from agent_warehouse.db import connect

    conn = connect()
    with conn.cursor() as cur:
        cur.execute("TRUNCATE " + ", ".join(TABLES_TO_CLEAN) + ", signals.scoring_packs")
        # The seeded scoring packs and the owner's retention policy, as the migrations left them.
        cur.execute("INSERT INTO signals.scoring_packs SELECT * FROM public.test_seed_scoring_packs")
        cur.execute("DELETE FROM ops.retention_policy")
        cur.execute("INSERT INTO ops.retention_policy (id) VALUES (true)")
        # Day partitions earlier tests created would look like history to the next one. The
        # default partition and those of unsupported start times (migration 0022) stay.
        cur.execute("SELECT c.oid::regclass::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = 'public.agent_runs'::regclass AND c.relname NOT IN "
                    "('agent_runs_default', 'agent_runs_before_range', 'agent_runs_after_range')")
        for (partition,) in cur.fetchall():
            cur.execute(f"DROP TABLE {partition}")
        cur.execute("TRUNCATE ops.agent_runs_invalidations")
    conn.commit()
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def dagbag(airflow_db) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


