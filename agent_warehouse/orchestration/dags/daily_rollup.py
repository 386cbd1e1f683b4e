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
folder, served by the plugin at `/reports`). The tables written are declared as Assets
(`outlets`), so other DAGs can be scheduled on them (docs/audit.md). One `ops.job_runs`
row per run, opened by the setup `start_audit` (which checks the warehouse schema first)
and closed by the teardown `finish_audit` with the run's own state. `check_days`
reconciles every day written against its partials and raw rows and scores the day for
anomalies, before the health scores and the report.

`airflow dags test daily_rollup 2026-01-06T01:00:00+00:00` rolls up 5 January.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, dag, task

from agent_warehouse.checks.tasks import checks_task
from agent_warehouse.orchestration.audit import Written, audited_run
from agent_warehouse.orchestration.tasks import (
    dag_settings,
    period_rollup_task,
    table_asset,
)
from agent_warehouse.orchestration.timetables import ClosedPeriodTimetable

DAILY_TABLES = ("execution_metrics_daily", "runtime_sketch_daily",
                "user_activity_daily", "workspace_activity_daily")


def build() -> DAG:
    """The ``daily_rollup`` DAG under the settings as the environment holds them now; a DAG file
    calls this and keeps the result in its globals."""
    @dag(
        **dag_settings("daily_rollup", __doc__, ["rollup", "daily", "warehouse"]),
        schedule=ClosedPeriodTimetable("0 0 * * *", delay=timedelta(hours=1)),
    )
    def daily_rollup() -> None:
        @task(multiple_outputs=False, outlets=[table_asset("workspace_health_daily")])
        def score_health(rolled: Written, data_interval_start: datetime | None = None) -> Written:
            """Health scores for every day just recomputed and the days whose baseline they are."""
            from agent_warehouse.orchestration.audit import counted
            from agent_warehouse.rollups import health, periods

            days = health.days_to_score([periods.as_date(d) for d in rolled["details"]["days"]],
                                        upto=periods.as_date(data_interval_start))
            held, written = counted(lambda conn: {d.isoformat(): health.health_day(conn, d) for d in days})
            return {"rows_written": written, "details": {"health_rows": held}}

        @task(multiple_outputs=False, outlets=[table_asset("daily_reports")])
        def write_report(data_interval_start: datetime | None = None) -> Written:
            """The day's JSON report in analytics.daily_reports and its HTML page."""
            from agent_warehouse.orchestration.audit import counted
            from agent_warehouse.reports import daily as reports
            from agent_warehouse.rollups import periods

            page, written = counted(reports.write_daily_report, periods.as_date(data_interval_start))
            return {"rows_written": written, "details": {"report": str(page)}}

        @task(multiple_outputs=False)
        def signals_derive_and_score(data_interval_start: datetime | None = None, dag_run: Any = None) -> dict[str, Any]:
            """Granular mode of the signal job: derive and score the day from the signals the
            hourly runs ingested, one audit row per workspace (docs/signals.md)."""
            from agent_warehouse.db import warehouse
            from agent_warehouse.rollups import periods
            from agent_warehouse.signals import pipeline

            with warehouse() as conn:
                out = pipeline.run_daily(conn, periods.as_date(data_interval_start), ingest_first=False,
                                         dag_id=dag_run.dag_id, run_id=dag_run.run_id)
            return {"inserted": out["inserted"], "workspaces": len(out["workspaces"])}

        with audited_run("daily_rollup") as run:
            rolled = period_rollup_task("daily", DAILY_TABLES)()
            health = score_health(rolled)  # an XComArg: the Written at run time
            report = write_report()
            health >> report
            # self-checks (agent_warehouse/checks): before the report, which lists what they found
            checked = checks_task("day", rolled)
            checked >> health
            signals_derive_and_score()  # beside the rollup: a signal failure shows on its own
            run.record(rolled, health, report, checked)

    return daily_rollup()
