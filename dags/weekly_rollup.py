"""
### weekly_rollup

Rolls up the previous ISO week (Monday 00:00 to Monday 00:00 UTC) on Mondays at 02:00 UTC
from the daily rows: `analytics.execution_metrics_weekly` (contract columns; `p95_runtime`
from the merge of seven daily runtime sketches, within 0.9% of `PERCENTILE_CONT`),
`analytics.runtime_sketch_weekly` and `analytics.workspace_activity_weekly` (exact weekly
active users: distinct users over the week's per-user daily rows, and credits).

Before reading, every hour and day of the week is brought up to date (changed hours
re-rolled, missing hours rolled up, changed or missing days recomputed), and earlier weeks
whose partials changed since they were computed are recomputed. Each week is one
transaction. One `ops.job_runs` row per run.

`airflow dags test weekly_rollup 2026-01-12T02:00:00+00:00` rolls up the week from Monday 5 January.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import chain, dag, task

from agent_warehouse import settings
from agent_warehouse.orchestration.deadlines import deadline_alert
from agent_warehouse.orchestration.tasks import DEFAULT_ARGS, check_schema_task, start_audit_task
from agent_warehouse.orchestration.timetables import ClosedPeriodTimetable


@dag(
    dag_id="weekly_rollup",
    schedule=ClosedPeriodTimetable("0 0 * * 1", delay=timedelta(hours=2)),
    start_date=settings.START_DATE,
    catchup=True,
    max_active_runs=settings.MAX_ACTIVE_RUNS,
    max_active_tasks=settings.MAX_ACTIVE_TASKS,
    default_args=DEFAULT_ARGS,
    deadline=deadline_alert("weekly_rollup", settings.WEEKLY_DEADLINE),
    doc_md=__doc__,
    tags=["rollup", "weekly", "warehouse"],
)
def weekly_rollup() -> None:
    @task
    def rollup_weeks(data_interval_start=None) -> dict:
        """Hours and days up to date, then this week and every earlier changed week."""
        from agent_warehouse.db import hook_connection
        from agent_warehouse.rollups import periods

        conn = hook_connection()
        try:
            return periods.weekly(conn, periods.as_date(data_interval_start))
        finally:
            conn.close()

    @task(trigger_rule="all_done")
    def finish_audit(ti=None) -> None:
        """Close the audit row; fail the run if any step before did not succeed."""
        from agent_warehouse.orchestration.tasks import finish_audit

        job_id = ti.xcom_pull(task_ids="start_audit")
        rolled = ti.xcom_pull(task_ids="rollup_weeks")
        if job_id is None:
            raise RuntimeError("the audit row was not started; see start_audit")
        ok = rolled is not None
        rolled = rolled or {}
        details = {
            "weeks": [w["week_start"] for w in rolled.get("weeks", [])],
            "days": [d["day"] for d in rolled.get("days", [])],
            "hours_repaired": rolled.get("hours_repaired", []),
            "hours_rolled_up": rolled.get("hours_rolled_up", []),
        }
        rows = sum(w["metric_rows"] + w["activity_rows"] for w in rolled.get("weeks", []))
        finish_audit(job_id, ok=ok, rows_written=rows, details=details)
        if not ok:
            raise RuntimeError("weekly_rollup did not complete: see the failed task and ops.job_runs")

    chain(check_schema_task(), start_audit_task("weekly_rollup"), rollup_weeks(), finish_audit())


weekly_rollup()
