"""
### daily_rollup

Rolls up the previous UTC day at 01:00 UTC from the hourly partials (never rescanning raw
rows): `analytics.execution_metrics_daily` (contract columns; counts, sums and means exact,
`p95_runtime` from the merged runtime sketch, within 0.9% of `PERCENTILE_CONT`),
`analytics.runtime_sketch_daily`, `analytics.user_activity_daily` and
`analytics.workspace_activity_daily` (exact daily active users and credits).

Before reading partials it brings every hour up to date: changed hours in the invalidation
log are re-rolled and hours of the day never rolled up are rolled up, so the day is exact
even if hourly runs were missed. Earlier days whose hourly partials changed since they were
computed (`ops.rollup_invalidations`) are recomputed too. Each day is one transaction.

Then scores each workspace's health (`analytics.workspace_health_daily`, docs/health.md)
and writes the daily report (`analytics.daily_reports` and an HTML page under the reports
folder, served by the plugin at `/reports`). One `ops.job_runs` row per run.

`airflow dags test daily_rollup 2026-01-06T01:00:00+00:00` rolls up 5 January.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import chain, dag, task

from agent_warehouse import settings
from agent_warehouse.orchestration.deadlines import deadline_alert
from agent_warehouse.orchestration.tasks import DEFAULT_ARGS, check_schema_task, start_audit_task
from agent_warehouse.orchestration.timetables import ClosedPeriodTimetable


@dag(
    dag_id="daily_rollup",
    schedule=ClosedPeriodTimetable("0 0 * * *", delay=timedelta(hours=1)),
    start_date=settings.START_DATE,
    catchup=True,
    max_active_runs=settings.MAX_ACTIVE_RUNS,
    max_active_tasks=settings.MAX_ACTIVE_TASKS,
    default_args=DEFAULT_ARGS,
    deadline=deadline_alert("daily_rollup", settings.DAILY_DEADLINE),
    doc_md=__doc__,
    tags=["rollup", "daily", "warehouse"],
)
def daily_rollup() -> None:
    @task
    def rollup_days(data_interval_start=None) -> dict:
        """Hours up to date, then this day and every earlier changed day, one transaction each."""
        from agent_warehouse.db import hook_connection
        from agent_warehouse.rollups import periods

        conn = hook_connection()
        try:
            return periods.daily(conn, periods.as_date(data_interval_start))
        finally:
            conn.close()

    @task
    def score_health(rolled: dict, data_interval_start=None) -> dict:
        """Health scores for every day just recomputed and the days whose baseline they are."""
        from agent_warehouse.db import hook_connection
        from agent_warehouse.rollups import health, periods

        days = health.days_to_score([periods.as_date(d["day"]) for d in rolled["days"]],
                                     upto=periods.as_date(data_interval_start))
        conn = hook_connection()
        try:
            return {d.isoformat(): health.health_day(conn, d) for d in days}
        finally:
            conn.close()

    @task
    def write_report(data_interval_start=None) -> str:
        """The day's JSON report in analytics.daily_reports and its HTML page."""
        from agent_warehouse.db import hook_connection
        from agent_warehouse.reports import daily as reports
        from agent_warehouse.rollups import periods

        conn = hook_connection()
        try:
            return str(reports.write_daily_report(conn, periods.as_date(data_interval_start)))
        finally:
            conn.close()

    @task
    def signals_derive_and_score(data_interval_start=None, dag_run=None) -> dict:
        """Granular mode of the signal job: derive and score the day from the signals the
        hourly runs ingested, one audit row per workspace (docs/signals.md)."""
        from agent_warehouse.db import hook_connection
        from agent_warehouse.rollups import periods
        from agent_warehouse.signals import pipeline

        conn = hook_connection()
        try:
            out = pipeline.run_daily(conn, periods.as_date(data_interval_start), ingest_first=False,
                                     dag_id=dag_run.dag_id, run_id=dag_run.run_id)
        finally:
            conn.close()
        return {"inserted": out["inserted"], "workspaces": len(out["workspaces"])}

    @task(trigger_rule="all_done")
    def finish_audit(ti=None) -> None:
        """Close the audit row; fail the run if any step before did not succeed."""
        from agent_warehouse.orchestration.tasks import finish_audit

        job_id = ti.xcom_pull(task_ids="start_audit")
        rolled = ti.xcom_pull(task_ids="rollup_days")
        health = ti.xcom_pull(task_ids="score_health")
        report = ti.xcom_pull(task_ids="write_report")
        if job_id is None:
            raise RuntimeError("the audit row was not started; see start_audit")
        ok = None not in (rolled, health, report)
        rolled = rolled or {}
        details = {
            "days": [d["day"] for d in rolled.get("days", [])],
            "hours_repaired": rolled.get("hours_repaired", []),
            "hours_rolled_up": rolled.get("hours_rolled_up", []),
            "health_rows": health, "report": report,
        }
        rows = sum(d["metric_rows"] + d["user_rows"] for d in rolled.get("days", [])) + sum(
            (health or {}).values())
        finish_audit(job_id, ok=ok, rows_written=rows, details=details)
        if not ok:
            raise RuntimeError("daily_rollup did not complete: see the failed task and ops.job_runs")

    rolled = rollup_days()
    health = score_health(rolled)
    report = write_report()
    schema_ok = check_schema_task()
    chain(schema_ok, start_audit_task("daily_rollup"), rolled, health, report, finish_audit())
    schema_ok >> signals_derive_and_score()  # beside the rollup: a signal failure shows on its own


daily_rollup()
