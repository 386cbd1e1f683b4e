"""Every operational setting of the package, in one documented place.

Values come from the environment (``AGENT_WAREHOUSE_<NAME>``) with the defaults below.
Nothing here touches a database, so DAG files may read these at parse time.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta

from agent_warehouse import PROJECT_ROOT

WAREHOUSE_CONN_ID = "warehouse"
# Airflow pool that every task writing to the warehouse takes a slot from.
WAREHOUSE_POOL = "warehouse_writers"


def _env(name: str, default: str) -> str:
    return os.environ.get(f"AGENT_WAREHOUSE_{name}", default)


def env_int(name: str, default: int) -> int:
    return int(_env(name, str(default)))


# First period the scheduler (catchup on) fills when a DAG is unpaused. Choose it on
# purpose: every period since then becomes a run.
START_DATE = datetime.fromisoformat(_env("START_DATE", "2026-01-01T00:00:00+00:00"))
# Catchup is on: a scheduler that was down fills the missed periods. Off only for
# throwaway deployments (integration tests) that should not replay history.
CATCHUP = _env("CATCHUP", "true").lower() in ("1", "true", "on", "yes")
MAX_ACTIVE_RUNS = env_int("MAX_ACTIVE_RUNS", 4)
MAX_ACTIVE_TASKS = env_int("MAX_ACTIVE_TASKS", 4)

# Retries: at least 2, exponential backoff (Airflow does the waiting).
RETRIES = env_int("RETRIES", 2)
RETRY_DELAY = timedelta(seconds=env_int("RETRY_DELAY_SECONDS", 30))
MAX_RETRY_DELAY = timedelta(minutes=10)
EXECUTION_TIMEOUT = timedelta(minutes=env_int("EXECUTION_TIMEOUT_MINUTES", 30))

# Server-side limits, set on every warehouse session through the hook.
STATEMENT_TIMEOUT_MS = env_int("STATEMENT_TIMEOUT_MS", 600_000)
LOCK_TIMEOUT_MS = env_int("LOCK_TIMEOUT_MS", 30_000)
# A session idle inside a transaction this long is ended by the server, so a killed worker
# cannot keep an hour's lock until TCP notices (docs/locking.md).
IDLE_IN_TRANSACTION_TIMEOUT_MS = env_int("IDLE_IN_TRANSACTION_TIMEOUT_MS", 300_000)

# Days of raw partitions created ahead so inserts never land in the default partition.
PARTITIONS_AHEAD_DAYS = env_int("PARTITIONS_AHEAD_DAYS", 3)

# Deadline targets (the seed's SLAs).
HOURLY_DEADLINE = timedelta(minutes=5)


def hook_params() -> dict[str, str]:
    """libpq options applied to every warehouse connection made through the hook."""
    return {
        "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={LOCK_TIMEOUT_MS} "
                   f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_TIMEOUT_MS}"
    }


def deadlines_enabled() -> bool:
    """Whether DAGs carry their DeadlineAlert.

    Airflow 3.3.2 fails ``dag.test()`` and ``airflow dags test`` runs of a DAG with a
    deadline after its tasks succeed (DeadlineAlertModel: "can't adapt type 'dict'");
    the scheduler path works. So the test command (and ``AGENT_WAREHOUSE_DEADLINES=off``)
    parses the DAGs without it; every scheduled deployment keeps it on.
    """
    if _env("DEADLINES", "on").lower() in ("0", "off", "false", "no"):
        return False
    argv = [a for a in sys.argv[1:] if not a.startswith("-")]
    return argv[:2] != ["dags", "test"]

# Daily and weekly rollups (docs/daily-weekly.md).
DAILY_DEADLINE = timedelta(minutes=env_int("DAILY_DEADLINE_MINUTES", 15))
WEEKLY_DEADLINE = timedelta(minutes=env_int("WEEKLY_DEADLINE_MINUTES", 30))
# Where the daily report's HTML pages are written (served by the plugin under /reports).
REPORTS_DIR = _env("REPORTS_DIR", str(PROJECT_ROOT / "reports"))

# ---------------------------------------------------------------- operations (issue 5)
# Slots of the Airflow pool WAREHOUSE_POOL: at most this many warehouse-writing tasks at once
# across all DAGs (created by `make airflow-db` and the test set-up).
WAREHOUSE_POOL_SLOTS = env_int("POOL_SLOTS", 4)

# Retention, in days before the cleanup run's day D (a run at 03:00 on D treats D as today).
# Each can be overridden per run through the cleanup DAG's params.
RAW_RETENTION_DAYS = env_int("RAW_RETENTION_DAYS", 90)  # agent_runs partitions
HOURLY_RETENTION_DAYS = env_int("HOURLY_RETENTION_DAYS", 400)  # analytics.*_hourly, rejected rows
JOB_RUNS_RETENTION_DAYS = env_int("JOB_RUNS_RETENTION_DAYS", 400)  # ops.job_runs, deadline misses
# Daily and weekly rollups are kept for ever.

# Dashboard materialized views, refreshed CONCURRENTLY every 15 minutes and after each
# hourly rollup.
DASHBOARD_VIEWS = ("workspace_summary_30d", "workspace_leaderboard_7d")

REFRESH_DEADLINE = timedelta(minutes=2)
CLEANUP_DEADLINE = timedelta(minutes=env_int("CLEANUP_DEADLINE_MINUTES", 30))
REFRESH_EXECUTION_TIMEOUT = timedelta(minutes=2)

# Signal aggregation (docs/signals.md). Read when called, so a run picks up the environment.
def signals_providers() -> list[str]:
    """Providers the ingest stage calls, comma-separated (``file``, ``synthetic``)."""
    return [p.strip() for p in _env("SIGNALS_PROVIDERS", "file").split(",") if p.strip()]


def signals_drop_dir() -> str:
    """Folder the file provider reads ``*.csv`` and ``*.jsonl`` drops from."""
    return _env("SIGNALS_DROP_DIR", str(PROJECT_ROOT / "signals_drop"))


def signals_provider_timeout() -> float:
    """Seconds a provider may take before it is recorded as timed out and skipped."""
    return float(_env("SIGNALS_PROVIDER_TIMEOUT_SECONDS", "120"))


def signals_top_n() -> int:
    """Length of the stored ranked list of emerging companies."""
    return env_int("SIGNALS_TOP_N", 25)
