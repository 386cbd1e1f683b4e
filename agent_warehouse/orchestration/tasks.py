"""What every DAG of the package shares: default args, the schema check, partitions ahead,
and the Assets naming the tables the DAGs write. The audit rows: ``orchestration/audit.py``."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any, TypeVar

from agent_warehouse import settings
from agent_warehouse.db import audit, migrations, warehouse

log = logging.getLogger(__name__)
T = TypeVar("T")


def injected(value: T | None, name: str) -> T:
    """A value Airflow passes to a task from its context (``params``, ``data_interval_start``,
    ``dag_run``): the ``= None`` default only lets the DAG call the task without it."""
    if value is None:
        raise RuntimeError(f"Airflow passed this task no {name}")
    return value


def record_task_failure(context: dict[str, Any]) -> None:
    """on_failure_callback: put the task's error on the run's audit row."""
    try:
        ti = context["ti"]
        error = f"{ti.task_id}: {context.get('exception')!r}"
        with warehouse() as conn:
            audit.record_error(conn, audit.run_key(ti.dag_id, ti.run_id), error)
    except Exception:  # the warehouse may be the thing that failed; never mask the error
        log.exception("could not record the failure on the audit row")


def default_args(s: settings.Settings) -> dict[str, Any]:
    """Every task's arguments under the settings ``s`` (the factory's ``settings.current()``)."""
    return {
        "owner": "data-platform",
        "retries": s.retries,
        "retry_delay": s.retry_delay,
        "retry_exponential_backoff": True,
        "max_retry_delay": s.max_retry_delay,
        "execution_timeout": s.execution_timeout,
        "on_failure_callback": record_task_failure,
        # Every task takes a slot of the warehouse pool: bounded concurrent load on PostgreSQL.
        "pool": s.pool,
    }


def table_asset(table: str) -> Any:
    """The Airflow Asset of ``analytics.<table>`` (postgres://host:port/database/schema/table)."""
    from airflow.sdk import Asset

    return Asset(name=f"analytics.{table}", uri=f"{settings.current().asset_uri}/analytics/{table}")


def check_schema_task() -> Any:
    """Every DAG's first task: fail early, naming the fix, if `make migrate` is due."""
    from airflow.sdk import task

    @task(task_id="check_schema", multiple_outputs=False)
    def run_check() -> None:
        with warehouse() as conn:
            migrations.check_current(conn)

    return run_check()


def ensure_partitions_task(from_field: str = "data_interval_start") -> Any:
    """Daily partitions of agent_runs from the run's day (``from_field``) on, created ahead."""
    from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator

    s = settings.current()
    return SQLExecuteQueryOperator(
        task_id="ensure_partitions",
        conn_id=settings.WAREHOUSE_CONN_ID,
        sql="ops/ensure_partitions.sql",
        parameters={"start": "{{ " + from_field + " }}", "days_ahead": s.partitions_ahead_days},
        hook_params=s.hook_params(),
    )


def sql_written(results: list[Any], descriptions: list[Any]) -> list[dict[str, Any]]:
    """``output_processor`` of an SQL operator whose last statement returns one row with a
    ``rows_written`` column: that row as a :class:`~agent_warehouse.orchestration.audit.Written`
    (the other columns become its details)."""
    names = [d[0] for d in descriptions[-1]]
    row = dict(zip(names, results[-1][0], strict=True))
    written = int(row.pop("rows_written"))
    # numeric columns (Decimal) would not survive the trip to JSON as numbers
    out: list[dict[str, Any]] = [{"rows_written": written,
                                  "details": {k: float(v) if isinstance(v, Decimal) else v
                                              for k, v in row.items()}}]
    from agent_warehouse.reports import log_lines

    log_lines.log_hour(out[0])  # the task log ends with one human line, not the SQL's last count
    return out
