"""What every DAG of the package shares: default args and the audit-row tasks' logic."""

from __future__ import annotations

import logging
from typing import Any

from agent_warehouse import settings
from agent_warehouse.db import audit, hook_connection, migrations

log = logging.getLogger(__name__)

def record_task_failure(context: dict[str, Any]) -> None:
    """on_failure_callback: put the task's error on the run's audit row."""
    try:
        ti = context["ti"]
        error = f"{ti.task_id}: {context.get('exception')!r}"
        conn = hook_connection()
        try:
            audit.record_error(conn, audit.run_key(ti.dag_id, ti.run_id), error)
        finally:
            conn.close()
    except Exception:  # the warehouse may be the thing that failed; never mask the error
        log.exception("could not record the failure on the audit row")


DEFAULT_ARGS: dict[str, Any] = {
    "owner": "data-platform",
    "retries": settings.RETRIES,
    "retry_delay": settings.RETRY_DELAY,
    "retry_exponential_backoff": True,
    "max_retry_delay": settings.MAX_RETRY_DELAY,
    "execution_timeout": settings.EXECUTION_TIMEOUT,
    "on_failure_callback": record_task_failure,
    # Every task takes a slot of the warehouse pool: bounded concurrent load on PostgreSQL.
    "pool": settings.WAREHOUSE_POOL,
}


def check_schema() -> None:
    conn = hook_connection()
    try:
        migrations.check_current(conn)
    finally:
        conn.close()


def start_audit(job_type: str, context: dict[str, Any]) -> int:
    dag_run = context["dag_run"]
    conn = hook_connection()
    try:
        return audit.start_job(
            conn,
            job_type=job_type,
            dag_id=dag_run.dag_id,
            run_id=dag_run.run_id,
            run_type=str(getattr(dag_run.run_type, "value", dag_run.run_type)),
            triggered_by=getattr(dag_run, "triggering_user_name", None),
            period_start=context.get("data_interval_start"),
            period_end=context.get("data_interval_end"),
        )
    finally:
        conn.close()


def finish_audit(job_id: int, *, ok: bool, rows_written: int, details: dict[str, Any],
                 error: str | None = None) -> None:
    conn = hook_connection()
    try:
        audit.finish_job(conn, job_id, status="success" if ok else "failed",
                         rows_written=rows_written, error=error, details=details)
    finally:
        conn.close()


def check_schema_task() -> Any:
    """Every DAG's first task: fail early, naming the fix, if `make migrate` is due."""
    from airflow.sdk import task

    @task(task_id="check_schema")
    def run_check() -> None:
        check_schema()

    return run_check()


def start_audit_task(job_type: str) -> Any:
    """The task that opens the run's ``ops.job_runs`` row; its XCom is the row's id."""
    from airflow.sdk import get_current_context, task

    @task(task_id="start_audit")
    def run_start() -> int:
        return start_audit(job_type, get_current_context())

    return run_start()


def ensure_partitions_task(from_field: str = "data_interval_start") -> Any:
    """Daily partitions of agent_runs from the run's day (``from_field``) on, created ahead."""
    from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator

    return SQLExecuteQueryOperator(
        task_id="ensure_partitions",
        conn_id=settings.WAREHOUSE_CONN_ID,
        sql="ops/ensure_partitions.sql",
        parameters={"start": "{{ " + from_field + " }}", "days_ahead": settings.PARTITIONS_AHEAD_DAYS},
        hook_params=settings.hook_params(),
    )
