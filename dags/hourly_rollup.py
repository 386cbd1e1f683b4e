"""
### hourly_rollup

Rolls up `public.agent_runs` for the closed clock hour `[H, H+1h)`, five minutes past
every hour (UTC), and repairs every earlier hour whose raw rows were inserted, updated
or deleted since it was last rolled up (the invalidation log `ops.agent_runs_invalidations`,
filled by statement-level triggers on `agent_runs`).

Writes `analytics.execution_metrics_hourly`, `analytics.runtime_sketch_hourly` (partials
for the daily and weekly rollups), `analytics.user_activity_hourly`,
`analytics.workspace_activity_hourly` and `ops.rejected_runs_hourly`; one `ops.job_runs`
row per run. Each hour is one transaction; rerunning an hour gives the same rows.
Beside the rollup, `ingest_signals` ingests the hour's company signals (docs/signals.md);
a signal provider's failure is recorded there and never fails this run.

A run started at T (manual, or `airflow dags test hourly_rollup T`) takes the last hour
closed at T.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import chain, dag, task

from agent_warehouse import SQL_DIR, settings
from agent_warehouse.orchestration.deadlines import deadline_alert
from agent_warehouse.orchestration.tasks import (
    DEFAULT_ARGS,
    check_schema_task,
    ensure_partitions_task,
    start_audit_task,
)
from agent_warehouse.orchestration.timetables import ClosedPeriodTimetable

INTERVAL = {"start": "{{ data_interval_start }}", "end": "{{ data_interval_end }}"}


@dag(
    dag_id="hourly_rollup",
    schedule=ClosedPeriodTimetable("0 * * * *", delay=timedelta(minutes=5)),
    start_date=settings.START_DATE,
    catchup=settings.CATCHUP,
    max_active_runs=settings.MAX_ACTIVE_RUNS,
    max_active_tasks=settings.MAX_ACTIVE_TASKS,
    default_args=DEFAULT_ARGS,
    template_searchpath=[str(SQL_DIR)],
    deadline=deadline_alert("hourly_rollup", settings.HOURLY_DEADLINE),
    doc_md=__doc__,
    tags=["rollup", "hourly", "warehouse"],
)
def hourly_rollup() -> None:
    ensure_partitions = ensure_partitions_task()

    rollup_hour = SQLExecuteQueryOperator(
        task_id="rollup_hour",
        conn_id=settings.WAREHOUSE_CONN_ID,
        sql="hourly/rollup_hour.sql",
        parameters=INTERVAL,
        split_statements=True,  # one transaction; psycopg 3 binds one statement at a time
        return_last=True,
        # Logs the guard's notice when the hour is past retention and kept (docs/retention.md).
        hook_params={**settings.hook_params(), "enable_log_db_messages": True},
    )

    @task
    def repair_changed_hours(data_interval_start=None) -> list[dict]:
        """Re-roll every earlier hour named in the invalidation log, one transaction each."""
        from agent_warehouse.db import hook_connection
        from agent_warehouse.rollups import hourly

        conn = hook_connection()
        try:
            return hourly.repair(conn, before=data_interval_start)
        finally:
            conn.close()

    @task
    def refresh_views() -> dict:
        """Refresh the dashboard materialized views with the new hour (CONCURRENTLY)."""
        from agent_warehouse.rollups import views

        return views.refresh_with_hook()

    @task(trigger_rule="all_done")
    def finish_audit(ti=None) -> None:
        """Close the audit row; fail the run if any step before did not succeed."""
        from agent_warehouse.orchestration.tasks import finish_audit

        job_id = ti.xcom_pull(task_ids="start_audit")
        own = ti.xcom_pull(task_ids="rollup_hour")
        repaired = ti.xcom_pull(task_ids="repair_changed_hours")
        if job_id is None:
            raise RuntimeError("the audit row was not started; see start_audit")
        ok = own is not None and repaired is not None
        hour = own[0] if own else None
        details = {
            "hour": hour[0] if hour else None,
            "hours_repaired": [r["hour"] for r in repaired or []],
            "bad_rows": (hour[3] if hour else 0) + sum(r["bad_rows"] for r in repaired or []),
        }
        rows = (hour[1] + hour[2] if hour else 0) + sum(
            r["metric_rows"] + r["user_rows"] for r in repaired or [])
        finish_audit(job_id, ok=ok, rows_written=rows, details=details)
        if not ok:
            raise RuntimeError("hourly_rollup did not complete: see the failed task and ops.job_runs")

    @task
    def ingest_signals(data_interval_start=None) -> dict:
        """Granular mode of the signal job: this hour's provider signals (docs/signals.md).
        Beside the rollup, not before it; provider failures are recorded, never raised."""
        from agent_warehouse.db import hook_connection
        from agent_warehouse.signals import pipeline

        conn = hook_connection()
        try:
            report = pipeline.ingest_hour(conn, data_interval_start)
        finally:
            conn.close()
        return {k: report[k] for k in ("inserted", "rejected", "failed")}

    job = start_audit_task("hourly_rollup")
    repaired = repair_changed_hours()
    schema_ok = check_schema_task()
    chain(schema_ok, ensure_partitions, job, rollup_hour, repaired, refresh_views(), finish_audit())
    schema_ok >> ingest_signals()


hourly_rollup()
