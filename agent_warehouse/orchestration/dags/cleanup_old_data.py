"""
### cleanup_old_data

03:00 UTC every day. The run for day D (data interval: the previous UTC day) treats D as
today and applies the retention settings (`agent_warehouse/settings.py`, overridable per
run through the Airflow Variable
`agent_warehouse_retention` or this DAG's params):

- raw `public.agent_runs`: days before `D - raw_days` (default 90) leave by dropping their
  whole daily partitions (`agent_runs_pYYYYMMDD`) plus their rows in the default partition.
  First every hour of those days is made current (dirty or missing hours re-rolled); if one
  is still not rolled up the run fails and drops nothing;
- hourly rollups and rejected-row counts: before `D - hourly_days` (default 400);
- `ops.job_runs` and `ops.deadline_misses`: before `D - job_runs_days` (default 400);
- daily and weekly rollups are kept.

The setup `start_audit` checks the warehouse schema and creates the raw partitions of the
coming days. Drops go through the owner's
SECURITY DEFINER function `ops.drop_expired_agent_runs`; the audit row (`ops.job_runs`,
job_type `cleanup_old_data`), opened by the setup `start_audit` and closed by the teardown
`finish_audit` with the run's own state, lists what was dropped (docs/audit.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, dag, task

from agent_warehouse import SQL_DIR, settings
from agent_warehouse.orchestration.audit import Written, audited_run
from agent_warehouse.orchestration.tasks import dag_settings, injected
from agent_warehouse.orchestration.timetables import ClosedPeriodTimetable


def build() -> DAG:
    """The ``cleanup_old_data`` DAG under the settings as the environment holds them now; a DAG file
    calls this and keeps the result in its globals."""
    s = settings.current()

    @dag(
        # Retention runs in day order, never two at once.
        **dag_settings("cleanup_old_data", __doc__, ["retention", "daily", "warehouse"], s, max_active_runs=1),
        schedule=ClosedPeriodTimetable("0 0 * * *", delay=timedelta(hours=3)),
        template_searchpath=[str(SQL_DIR)],
        # Per-run overrides (trigger with conf); empty means the Airflow Variable
        # `agent_warehouse_retention` (JSON, same keys), then the settings.
        params={
            "raw_days": Param(None, type=["null", "integer"], minimum=1,
                              description=f"Keep raw agent_runs this many days (default {s.raw_retention_days})"),
            "hourly_days": Param(None, type=["null", "integer"], minimum=1,
                                 description="Keep hourly rollups this many days (>= raw_days; default "
                                             f"{s.hourly_retention_days})"),
            "job_runs_days": Param(None, type=["null", "integer"], minimum=1,
                                   description="Keep ops.job_runs rows this many days (default "
                                               f"{s.job_runs_retention_days})"),
        },
    )
    def cleanup_old_data() -> None:
        @task(multiple_outputs=False)
        def drop_expired(params: dict[str, Any] | None = None, data_interval_end: datetime | None = None) -> Written:
            """Make the expiring hours current, then drop raw days and expired rollup rows."""
            from airflow.sdk import Variable

            from agent_warehouse.orchestration.audit import counted
            from agent_warehouse.retention import cleanup as retention

            chosen = retention.Retention.from_params(
                {**Variable.get(retention.VARIABLE, default={}, deserialize_json=True),
                 **{k: v for k, v in (params or {}).items() if v is not None}})
            details, written = counted(retention.cleanup, injected(data_interval_end, "data_interval_end").date(), chosen)
            return {"rows_written": written, "details": details}

        with audited_run("cleanup_old_data", partitions_from="data_interval_end") as run:
            run.record(drop_expired())

    return cleanup_old_data()
