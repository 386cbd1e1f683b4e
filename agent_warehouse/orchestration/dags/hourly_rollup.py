"""
### hourly_rollup

Rolls up `public.agent_runs` for the closed clock hour `[H, H+1h)`, five minutes past
every hour (UTC), and repairs every earlier hour whose raw rows were inserted, updated
or deleted since it was last rolled up (the invalidation log `ops.agent_runs_invalidations`,
filled by statement-level triggers on `agent_runs`).

Writes `analytics.execution_metrics_hourly`, `analytics.runtime_sketch_hourly` (partials
for the daily and weekly rollups), `analytics.user_activity_hourly`,
`analytics.workspace_activity_hourly` and `ops.rejected_runs_hourly` (declared as Assets).
Each hour is one transaction; rerunning an hour gives the same rows.
The dashboard views are refreshed by `refresh_materialized_views` every 15 minutes, not
here: a backfill of many hours would refresh them once per hour, each refresh waiting on
the last.
Beside the rollup, `ingest_signals` ingests the hour's company signals (docs/signals.md);
a signal provider's failure is recorded there and never fails this run.

Tasks: `start_audit` (setup: checks the warehouse schema, opens the run's `ops.job_runs`
row, creates the raw partitions ahead), `rollup_hour`, then `repair_changed_hours`, then
`check_hours` (reconciles every hour written against its raw rows, scores the hour for
anomalies); `ingest_signals` beside them; `finish_audit` (teardown: closes the row with the
run's own state, docs/audit.md).

A run started at T (manual, or `airflow dags test hourly_rollup T`) takes the last hour
closed at T.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG, chain, dag, task

from agent_warehouse import SQL_DIR, settings
from agent_warehouse.checks.tasks import checks_task
from agent_warehouse.orchestration.audit import Written, audited_run
from agent_warehouse.orchestration.tasks import (
    dag_settings,
    injected,
    sql_written,
    table_asset,
)
from agent_warehouse.orchestration.timetables import ClosedPeriodTimetable

INTERVAL = {"start": "{{ data_interval_start }}", "end": "{{ data_interval_end }}"}
HOURLY_TABLES = ("execution_metrics_hourly", "runtime_sketch_hourly",
                 "user_activity_hourly", "workspace_activity_hourly")


def build() -> DAG:
    """The ``hourly_rollup`` DAG under the settings as the environment holds them now; a DAG file
    calls this and keeps the result in its globals."""
    s = settings.current()
    hourly_tables = [table_asset(t) for t in HOURLY_TABLES]

    @dag(
        **dag_settings("hourly_rollup", __doc__, ["rollup", "hourly", "warehouse"], s),
        schedule=ClosedPeriodTimetable("0 * * * *", delay=timedelta(minutes=5)),
        template_searchpath=[str(SQL_DIR)],
    )
    def hourly_rollup() -> None:
        @task(multiple_outputs=False, outlets=hourly_tables)
        def repair_changed_hours(data_interval_start: datetime | None = None) -> Written:
            """Re-roll every earlier hour named in the invalidation log, one transaction each."""
            from agent_warehouse.orchestration.audit import counted
            from agent_warehouse.rollups import hourly

            repaired, written = counted(hourly.repair, before=injected(data_interval_start, "data_interval_start"))
            return {"rows_written": written,
                    "details": {"hours_repaired": [r["hour"] for r in repaired],
                                "bad_rows_repaired": sum(r["bad_rows"] for r in repaired)}}

        @task(multiple_outputs=False)
        def ingest_signals(data_interval_start: datetime | None = None) -> dict[str, Any]:
            """Granular mode of the signal job: this hour's provider signals (docs/signals.md).
            Beside the rollup, not before it; provider failures are recorded, never raised."""
            from agent_warehouse.db import warehouse
            from agent_warehouse.signals import pipeline

            with warehouse() as conn:
                report = pipeline.ingest_hour(conn, injected(data_interval_start, "data_interval_start"))
            return {k: report[k] for k in ("inserted", "rejected", "failed")}

        with audited_run("hourly_rollup", partitions_from="data_interval_start") as run:
            rollup_hour = SQLExecuteQueryOperator(
                task_id="rollup_hour",
                conn_id=settings.WAREHOUSE_CONN_ID,
                sql="hourly/rollup_hour.sql",
                parameters=INTERVAL,
                split_statements=True,  # one transaction; psycopg 3 binds one statement at a time
                return_last=True,
                output_processor=sql_written,
                # Logs the guard's notice when the hour is past retention and kept (docs/retention.md).
                hook_params={**s.hook_params(), "enable_log_db_messages": True, "log_sql": False},
                outlets=hourly_tables,
            )
            repaired = repair_changed_hours()
            ingest_signals()
            # self-checks (agent_warehouse/checks): the hours written against their raw rows, then anomalies
            checked = checks_task("hour", rollup_hour.output, repaired)
            chain(rollup_hour, repaired, checked)
            run.record(rollup_hour.output, repaired, checked)

    return hourly_rollup()
