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
row per run, opened by the setup `start_audit` (which checks the warehouse schema first)
and closed by the teardown `finish_audit` with the run's own state (docs/audit.md).

`airflow dags test weekly_rollup 2026-01-12T02:00:00+00:00` rolls up the week from Monday 5 January.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, dag

from agent_warehouse.checks.tasks import reconcile_task
from agent_warehouse.orchestration.audit import audited_run
from agent_warehouse.orchestration.tasks import dag_settings, period_rollup_task
from agent_warehouse.orchestration.timetables import ClosedPeriodTimetable

WEEKLY_TABLES = ("execution_metrics_weekly", "runtime_sketch_weekly",
                 "workspace_activity_weekly")


def build() -> DAG:
    """The ``weekly_rollup`` DAG under the settings as the environment holds them now; a DAG file
    calls this and keeps the result in its globals."""
    @dag(
        **dag_settings("weekly_rollup", __doc__, ["rollup", "weekly", "warehouse"]),
        schedule=ClosedPeriodTimetable("0 0 * * 1", delay=timedelta(hours=2)),
    )
    def weekly_rollup() -> None:
        with audited_run("weekly_rollup") as run:
            rolled = period_rollup_task("weekly", WEEKLY_TABLES)()
            run.record(rolled, reconcile_task(rolled))  # self-check: agent_warehouse/checks

    return weekly_rollup()
