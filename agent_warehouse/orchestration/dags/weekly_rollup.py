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
transaction. The tables written are declared as Assets (`outlets`). One `ops.job_runs`
row per run, opened by the setup `start_audit` and closed by the teardown `finish_audit`
with the run's own state (docs/audit.md).

`airflow dags test weekly_rollup 2026-01-12T02:00:00+00:00` rolls up the week from Monday 5 January.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, dag, task

from agent_warehouse import settings
from agent_warehouse.checks.tasks import reconcile_task
from agent_warehouse.orchestration.audit import Written, audited_run
from agent_warehouse.orchestration.deadlines import deadline_alert
from agent_warehouse.orchestration.tasks import check_schema_task, default_args, table_asset
from agent_warehouse.orchestration.timetables import ClosedPeriodTimetable

WEEKLY_TABLES = ("execution_metrics_weekly", "runtime_sketch_weekly",
                 "workspace_activity_weekly")


def build() -> DAG:
    """The ``weekly_rollup`` DAG under the settings as the environment holds them now; a DAG file
    calls this and keeps the result in its globals."""
    s = settings.current()
    weekly_tables = [table_asset(t) for t in WEEKLY_TABLES]

    @dag(
        dag_id="weekly_rollup",
        schedule=ClosedPeriodTimetable("0 0 * * 1", delay=timedelta(hours=2)),
        start_date=s.start_date,
        catchup=s.catchup,
        max_active_runs=s.max_active_runs,
        max_active_tasks=s.max_active_tasks,
        default_args=default_args(s),
        deadline=deadline_alert("weekly_rollup", s.deadline("weekly_rollup")),
        doc_md=__doc__,
        tags=["rollup", "weekly", "warehouse"],
    )
    def weekly_rollup() -> None:
        @task(multiple_outputs=False, outlets=weekly_tables)
        def rollup_weeks(data_interval_start: datetime | None = None) -> Written:
            """Hours and days up to date, then this week and every earlier changed week."""
            from agent_warehouse.orchestration.audit import counted
            from agent_warehouse.rollups import periods

            rolled, written = counted(periods.weekly, periods.as_date(data_interval_start))
            return {"rows_written": written,
                    "details": {"weeks": [w["week_start"] for w in rolled["weeks"]],
                                "days": [d["day"] for d in rolled["days"]],
                                "hours_repaired": rolled["hours_repaired"],
                                "hours_rolled_up": rolled["hours_rolled_up"]}}

        with audited_run("weekly_rollup", after=check_schema_task()) as run:
            rolled = rollup_weeks()
            run.record(rolled, reconcile_task(rolled))  # self-check: agent_warehouse/checks

    return weekly_rollup()
