"""What every DAG of the package shares: default args, the schema check, partitions ahead
(both run inside the setup ``start_audit``) and the Assets naming the tables the DAGs write.
The audit rows: ``orchestration/audit.py``."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any, TypeVar

from agent_warehouse import settings
from agent_warehouse.db import audit, migrations, run_script, warehouse

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
        "retry_exponential_backoff": True,
        **s.task_timing,
        "on_failure_callback": record_task_failure,
        # Every task takes a slot of the warehouse pool: bounded concurrent load on PostgreSQL.
        "pool": s.pool,
    }


def dag_settings(dag_id: str, doc_md: str | None, tags: list[str], s: settings.Settings | None = None,
                 **overrides: Any) -> dict[str, Any]:
    """The ``@dag`` arguments every DAG of the package gives the same way: its id, doc and
    tags, and from the settings ``s`` (default: ``settings.current()``) start date, catchup,
    concurrency, default args and its DeadlineAlert; ``overrides`` replace some."""
    from agent_warehouse.orchestration.deadlines import deadline_alert

    s = s or settings.current()

    return {"dag_id": dag_id, "doc_md": doc_md, "tags": tags, "start_date": s.start_date, "catchup": s.catchup,
            "max_active_runs": s.max_active_runs, "max_active_tasks": s.max_active_tasks,
            "default_args": default_args(s), "deadline": deadline_alert(dag_id, s.deadline(dag_id)),
            **overrides}


# The daily and weekly DAGs' rollup task of each grain: (task id, what it does).
PERIOD_ROLLUPS = {
    "daily": ("rollup_days", "Hours up to date, then this day and every earlier changed day, one transaction each."),
    "weekly": ("rollup_weeks", "Hours and days up to date, then this week and every earlier changed week."),
}


def period_rollup_task(grain: str, tables: tuple[str, ...]) -> Any:
    """The rollup task of the daily (``grain="daily"``) or weekly DAG, writing ``tables``: its
    output (``Written``) is the rows written and the periods rolled up."""
    from airflow.sdk import task

    task_id, doc = PERIOD_ROLLUPS[grain]

    @task(task_id=task_id, multiple_outputs=False, outlets=[table_asset(t) for t in tables], doc_md=doc)
    def rollup(data_interval_start: Any = None) -> Any:
        from agent_warehouse.orchestration.audit import counted_rollup
        from agent_warehouse.rollups import periods

        return counted_rollup(getattr(periods, grain), data_interval_start)

    return rollup


def table_asset(table: str) -> Any:
    """The Airflow Asset of ``analytics.<table>`` (postgres://host:port/database/schema/table)."""
    from airflow.sdk import Asset

    return Asset(name=f"analytics.{table}", uri=f"{settings.current().asset_uri}/analytics/{table}")


def check_schema() -> None:
    """Fail, naming the fix, if `make migrate` is due (a query inside every DAG's setup
    ``start_audit``, before it opens the audit row, which is part of the schema it checks)."""
    with warehouse() as conn:
        migrations.check_current(conn)


def ensure_partitions(start: Any) -> int:
    """Daily partitions of agent_runs from ``start``'s day on, ``partitions_ahead_days`` ahead,
    each created in its own short transaction (never inside a rollup's, which would hold the
    lock on agent_runs the creation takes for the whole rollup). Returns how many it created."""
    with warehouse() as conn:
        ((created,),) = run_script(conn, "ops/ensure_partitions.sql",
                                   {"start": start, "days_ahead": settings.current().partitions_ahead_days})
    return int(created or 0)


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
