"""Every operational setting of the package, in one typed object, read one way.

:class:`Settings` reads ``AGENT_WAREHOUSE_<NAME>`` from the environment (pydantic-settings,
so ``AGENT_WAREHOUSE_RETRIES=abc`` fails with the variable's name instead of a bare
``ValueError``). Code reads ``settings.current()``, the environment as it is now: the DAG
factories call it when they build a DAG (at parse time), tasks when they run. Nothing here
touches a database, and nothing reads ``sys.argv``: a DAG's shape depends on the
environment only.

The upper-case names of earlier versions (``settings.RETRIES``...) still resolve, through
the same object at the moment they are read (``__getattr__`` below), for code written
against them; new code calls ``current()``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from agent_warehouse import PROJECT_ROOT

# A DAG's DeadlineAlert: minutes after its run is queued, at least one.
DeadlineMinutes = Annotated[int, Field(ge=1)]

# Fixed names, not settings: the contract's connection id, the views the refresh DAG keeps.
WAREHOUSE_CONN_ID = "warehouse"
DASHBOARD_VIEWS = ("workspace_summary_30d", "workspace_leaderboard_7d")


def _data_dir(name: str) -> str:
    """A folder the package writes or reads files in: beside the checkout in this repository
    (``make demo``), under ``$AIRFLOW_HOME/agent_warehouse`` where the wheel is installed."""
    if (PROJECT_ROOT / "pyproject.toml").is_file():
        return str(PROJECT_ROOT / name)
    return str(Path(os.environ.get("AIRFLOW_HOME") or "~/airflow").expanduser() / "agent_warehouse" / name)


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
    # 8 tasks and pool slots on 2 cores: a task slot spends seconds outside its task (process,
    # DAG parse, API calls) that only more slots than cores fill; a 24-run backfill took 137
    # instead of 187 s for the same CPU (docs/operations.md, "Backfills: Airflow's share").
    max_active_tasks: int = Field(8, ge=1)

    # Retries: at least 2, exponential backoff (Airflow does the waiting).
    retries: int = Field(2, ge=0)
    retry_delay_seconds: int = Field(30, ge=0)
    max_retry_delay_minutes: int = Field(10, ge=1)
    execution_timeout_minutes: int = Field(30, ge=1)
    # The refresh runs every 15 minutes: a refresh stuck longer is killed and retried.
    refresh_execution_timeout_minutes: int = Field(2, ge=1)
    # Airflow pool every task takes a slot from (bounded concurrent load on the warehouse),
    # and its size where this project creates it (`make airflow-db`, the tests).
    pool: str = Field("warehouse_writers", min_length=1)
    # The scheduler imports the package once, so the task processes the LocalExecutor forks
    # from it start with it imported (listeners.preload). Off: each task imports the package
    # itself, and code edited under `make up` reaches tasks without a scheduler restart.
    preload: bool = True

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
    # Minutes after a run is queued (the seed's SLAs).
    hourly_deadline_minutes: DeadlineMinutes = 5
    daily_deadline_minutes: DeadlineMinutes = 15
    weekly_deadline_minutes: DeadlineMinutes = 30
    cleanup_deadline_minutes: DeadlineMinutes = 30
    refresh_deadline_minutes: DeadlineMinutes = 2
    signals_deadline_minutes: DeadlineMinutes = 60

    # Where the daily report's HTML pages are written (served by the plugin under /reports).
    reports_dir: str = Field(default_factory=lambda: _data_dir("reports"))
    pool_slots: int = Field(8, ge=1)

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
    signals_drop_dir: str = Field(default_factory=lambda: _data_dir("signals_drop"))
    signals_provider_timeout_seconds: float = Field(120.0, gt=0)
    signals_top_n: int = Field(25, ge=1)


    # Derived values, as the DAGs and hooks take them.
    @property
    def task_timing(self) -> dict[str, timedelta]:
        """Every task's retry delays and execution timeout, as Airflow's default_args name them."""
        return {"retry_delay": timedelta(seconds=self.retry_delay_seconds),
                "max_retry_delay": timedelta(minutes=self.max_retry_delay_minutes),
                "execution_timeout": timedelta(minutes=self.execution_timeout_minutes)}

    @property
    def refresh_execution_timeout(self) -> timedelta:
        return timedelta(minutes=self.refresh_execution_timeout_minutes)

    def deadline(self, dag_id: str) -> timedelta:
        """The DeadlineAlert target of ``dag_id`` (minutes after its run is queued)."""
        return timedelta(minutes=getattr(self, f"{_DEADLINE_PREFIX[dag_id]}_deadline_minutes"))

    @property
    def asset_uri(self) -> str:
        return self.asset_database_uri.rstrip("/")

    @property
    def providers(self) -> list[str]:
        """Providers the ingest stage calls (``signals_providers``, comma-separated)."""
        return [p.strip() for p in self.signals_providers.split(",") if p.strip()]

    def hook_params(self) -> dict[str, str]:
        """libpq options applied to every warehouse connection (hook and direct)."""
        return {
            "options": f"-c statement_timeout={self.statement_timeout_ms} -c lock_timeout={self.lock_timeout_ms} "
                       f"-c idle_in_transaction_session_timeout={self.idle_in_transaction_timeout_ms}"
        }


_DEADLINE_PREFIX = {"hourly_rollup": "hourly", "daily_rollup": "daily", "weekly_rollup": "weekly",
                    "cleanup_old_data": "cleanup", "refresh_materialized_views": "refresh",
                    "daily_signal_aggregation": "signals"}


def current() -> Settings:
    """The settings as the environment holds them now. Not cached: a DAG factory reads it
    once per build, a task once per use (about half a millisecond)."""
    return Settings()


# The names of earlier versions, each read from current() when it is looked up (no copy is
# taken at import). Kept for code written against them; new code calls current().
_LEGACY: dict[str, Any] = {
    "START_DATE": lambda s: s.start_date,
    "CATCHUP": lambda s: s.catchup,
    "MAX_ACTIVE_RUNS": lambda s: s.max_active_runs,
    "MAX_ACTIVE_TASKS": lambda s: s.max_active_tasks,
    "RETRIES": lambda s: s.retries,
    "RETRY_DELAY": lambda s: s.task_timing["retry_delay"],
    "MAX_RETRY_DELAY": lambda s: s.task_timing["max_retry_delay"],
    "EXECUTION_TIMEOUT": lambda s: s.task_timing["execution_timeout"],
    "REFRESH_EXECUTION_TIMEOUT": lambda s: s.refresh_execution_timeout,
    "STATEMENT_TIMEOUT_MS": lambda s: s.statement_timeout_ms,
    "LOCK_TIMEOUT_MS": lambda s: s.lock_timeout_ms,
    "IDLE_IN_TRANSACTION_TIMEOUT_MS": lambda s: s.idle_in_transaction_timeout_ms,
    "PARTITIONS_AHEAD_DAYS": lambda s: s.partitions_ahead_days,
    "HOURLY_DEADLINE": lambda s: s.deadline("hourly_rollup"),
    "DAILY_DEADLINE": lambda s: s.deadline("daily_rollup"),
    "WEEKLY_DEADLINE": lambda s: s.deadline("weekly_rollup"),
    "CLEANUP_DEADLINE": lambda s: s.deadline("cleanup_old_data"),
    "REFRESH_DEADLINE": lambda s: s.deadline("refresh_materialized_views"),
    "SIGNALS_DEADLINE": lambda s: s.deadline("daily_signal_aggregation"),
    "REPORTS_DIR": lambda s: s.reports_dir,
    "WAREHOUSE_POOL": lambda s: s.pool,
    "WAREHOUSE_POOL_SLOTS": lambda s: s.pool_slots,
    "RAW_RETENTION_DAYS": lambda s: s.raw_retention_days,
    "HOURLY_RETENTION_DAYS": lambda s: s.hourly_retention_days,
    "JOB_RUNS_RETENTION_DAYS": lambda s: s.job_runs_retention_days,
    "ASSET_DATABASE_URI": lambda s: s.asset_uri,
    "hook_params": lambda s: s.hook_params,
    "deadlines_enabled": lambda s: lambda: s.deadlines,
    "signals_providers": lambda s: lambda: s.providers,
    "signals_drop_dir": lambda s: lambda: s.signals_drop_dir,
    "signals_provider_timeout": lambda s: lambda: s.signals_provider_timeout_seconds,
    "signals_top_n": lambda s: lambda: s.signals_top_n,
}


def __getattr__(name: str) -> Any:
    if name in _LEGACY:
        return _LEGACY[name](current())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
