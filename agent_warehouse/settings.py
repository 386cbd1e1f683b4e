"""Every operational setting of the package, in one typed object.

:class:`Settings` reads ``AGENT_WAREHOUSE_<NAME>`` from the environment (pydantic-settings,
so ``AGENT_WAREHOUSE_RETRIES=abc`` fails with the variable's name instead of a bare
``ValueError``). The module-level names below are that object's values at import, kept
because DAG files and other modules import them. Nothing here touches a database, so DAG
files may read these at parse time; nothing here reads ``sys.argv`` either: a DAG's shape
depends on the environment only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from agent_warehouse import PROJECT_ROOT


class Settings(BaseSettings):
    """``AGENT_WAREHOUSE_*`` variables; field names are the variable names without the prefix."""

    model_config = SettingsConfigDict(env_prefix="AGENT_WAREHOUSE_", extra="ignore", frozen=True)

    # First period the scheduler (catchup on) fills when a DAG is unpaused. Choose it on
    # purpose: every period since then becomes a run.
    start_date: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    # Catchup is on: a scheduler that was down fills the missed periods. Off only for
    # throwaway deployments (integration tests) that should not replay history.
    catchup: bool = True
    max_active_runs: int = Field(4, ge=1)
    max_active_tasks: int = Field(4, ge=1)

    # Retries: at least 2, exponential backoff (Airflow does the waiting).
    retries: int = Field(2, ge=0)
    retry_delay_seconds: int = Field(30, ge=0)
    execution_timeout_minutes: int = Field(30, ge=1)

    # Server-side limits, set on every warehouse session through the hook.
    statement_timeout_ms: int = Field(600_000, ge=0)
    lock_timeout_ms: int = Field(30_000, ge=0)
    # A session idle inside a transaction this long is ended by the server, so a killed worker
    # cannot keep an hour's lock until TCP notices (docs/locking.md).
    idle_in_transaction_timeout_ms: int = Field(300_000, ge=0)

    # Days of raw partitions created ahead so inserts never land in the default partition.
    partitions_ahead_days: int = Field(3, ge=0)

    # DeadlineAlerts on every DAG. Airflow 3.3.2 fails `dag.test()` and `airflow dags test`
    # runs of a DAG with a deadline after its tasks succeed (DeadlineAlertModel: "can't adapt
    # type 'dict'"); the scheduler path works. Commands that run `dags test` set
    # AGENT_WAREHOUSE_DEADLINES=off; every scheduled deployment keeps them on.
    deadlines: bool = True
    daily_deadline_minutes: int = Field(15, ge=1)
    weekly_deadline_minutes: int = Field(30, ge=1)
    cleanup_deadline_minutes: int = Field(30, ge=1)

    # Where the daily report's HTML pages are written (served by the plugin under /reports).
    reports_dir: str = str(PROJECT_ROOT / "reports")
    # Slots of the Airflow pool WAREHOUSE_POOL (created by `make airflow-db` and the tests).
    pool_slots: int = Field(4, ge=1)

    # Retention, in days before the cleanup run's day D (a run at 03:00 on D treats D as
    # today); each can be overridden per run through the cleanup DAG's params. Daily and
    # weekly rollups are kept for ever.
    raw_retention_days: int = Field(90, ge=1)  # agent_runs partitions
    hourly_retention_days: int = Field(400, ge=1)  # analytics.*_hourly, rejected rows
    job_runs_retention_days: int = Field(400, ge=1)  # ops.job_runs, deadline misses

    # Airflow Assets name the tables the rollups write: postgres://host:port/database, then
    # /schema/table (the Postgres provider's URI rules). A logical name by default; set it to
    # the warehouse's real host and database where lineage should match other tools.
    asset_database_uri: str = "postgres://warehouse:5432/warehouse"

    # Signal aggregation (docs/signals.md).
    signals_providers: str = "file"  # comma-separated: file, synthetic
    signals_drop_dir: str = str(PROJECT_ROOT / "signals_drop")
    signals_provider_timeout_seconds: float = Field(120.0, gt=0)
    signals_top_n: int = Field(25, ge=1)


def current() -> Settings:
    """The settings as the environment holds them now (tasks that must see a changed env)."""
    return Settings()


_s = current()

WAREHOUSE_CONN_ID = "warehouse"
# Airflow pool that every task writing to the warehouse takes a slot from.
WAREHOUSE_POOL = "warehouse_writers"

START_DATE = _s.start_date
CATCHUP = _s.catchup
MAX_ACTIVE_RUNS = _s.max_active_runs
MAX_ACTIVE_TASKS = _s.max_active_tasks

RETRIES = _s.retries
RETRY_DELAY = timedelta(seconds=_s.retry_delay_seconds)
MAX_RETRY_DELAY = timedelta(minutes=10)
EXECUTION_TIMEOUT = timedelta(minutes=_s.execution_timeout_minutes)

STATEMENT_TIMEOUT_MS = _s.statement_timeout_ms
LOCK_TIMEOUT_MS = _s.lock_timeout_ms
IDLE_IN_TRANSACTION_TIMEOUT_MS = _s.idle_in_transaction_timeout_ms
PARTITIONS_AHEAD_DAYS = _s.partitions_ahead_days

# Deadline targets (the seed's SLAs).
HOURLY_DEADLINE = timedelta(minutes=5)
DAILY_DEADLINE = timedelta(minutes=_s.daily_deadline_minutes)
WEEKLY_DEADLINE = timedelta(minutes=_s.weekly_deadline_minutes)
REFRESH_DEADLINE = timedelta(minutes=2)
CLEANUP_DEADLINE = timedelta(minutes=_s.cleanup_deadline_minutes)
REFRESH_EXECUTION_TIMEOUT = timedelta(minutes=2)

REPORTS_DIR = _s.reports_dir
WAREHOUSE_POOL_SLOTS = _s.pool_slots

RAW_RETENTION_DAYS = _s.raw_retention_days
HOURLY_RETENTION_DAYS = _s.hourly_retention_days
JOB_RUNS_RETENTION_DAYS = _s.job_runs_retention_days

ASSET_DATABASE_URI = _s.asset_database_uri.rstrip("/")

# Dashboard materialized views, refreshed CONCURRENTLY every 15 minutes and after each
# hourly rollup.
DASHBOARD_VIEWS = ("workspace_summary_30d", "workspace_leaderboard_7d")


def hook_params() -> dict[str, str]:
    """libpq options applied to every warehouse connection made through the hook."""
    return {
        "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={LOCK_TIMEOUT_MS} "
                   f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_TIMEOUT_MS}"
    }


def deadlines_enabled() -> bool:
    """Whether DAGs carry their DeadlineAlert (``AGENT_WAREHOUSE_DEADLINES``, default on)."""
    return current().deadlines


# Signal aggregation. Read when called, so a run picks up the environment.
def signals_providers() -> list[str]:
    """Providers the ingest stage calls, comma-separated (``file``, ``synthetic``)."""
    return [p.strip() for p in current().signals_providers.split(",") if p.strip()]


def signals_drop_dir() -> str:
    """Folder the file provider reads ``*.csv`` and ``*.jsonl`` drops from."""
    return current().signals_drop_dir


def signals_provider_timeout() -> float:
    """Seconds a provider may take before it is recorded as timed out and skipped."""
    return current().signals_provider_timeout_seconds


def signals_top_n() -> int:
    """Length of the stored ranked list of emerging companies."""
    return current().signals_top_n
