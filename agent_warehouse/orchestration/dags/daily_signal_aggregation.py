"""
### daily_signal_aggregation

Signals about companies for the previous UTC day, 00:30 UTC daily, and on demand (UI,
CLI, the internal API): **ingest** every configured provider once (a provider that fails
is recorded in `signals.provider_runs` and the others go on), **derive** per-company
features (counts, 7-/30-day velocity), then **score and rank** every workspace as one
mapped task per workspace, so each workspace's failure is visible and retryable alone.

Params: `workspace_id` (a uuid, or null for every workspace in `signals.workspace_packs`),
`pack_id` (null: the workspace's pack, else the default pack) and, for the granular mode
(the internal API's `run_ingest`, `run_derive`, `run_score`), `steps` (which of `ingest`,
`derive`, `score` run; the others succeed doing nothing) and `hour` (ingest only that UTC
hour). The ranked list of emerging companies goes to each mapped task's log and to `signals.emerging_companies`.
One `ops.job_runs` row (`job_type = 'daily_aggregation'`) per run and workspace, plus a
run-level row for runs over every workspace, opened by the setup `start_audit` and closed
by the teardown `finish_audit` with the run's own state (docs/audit.md). A run only ever
uses the rows created for its own run id (the internal API creates them before it triggers
the run); a run's conf cannot name another row. A rerun of a day changes no stored row.

A run started at T without a logical date (the API's runs) takes the day before T's date.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, dag, task

from agent_warehouse import settings
from agent_warehouse.orchestration.audit import audited_run, close_signal_rows, open_signal_rows
from agent_warehouse.orchestration.tasks import dag_settings, injected
from agent_warehouse.orchestration.timetables import ClosedPeriodTimetable

UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
PACK_PATTERN = "^[a-z0-9_-]{1,64}$"
HOUR_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:00:00(\+00:00|Z)$"
STEPS = ("ingest", "derive", "score")
log = logging.getLogger(__name__)


def asked(step: str, params: dict[str, Any] | None) -> bool:
    """Granular mode: whether this run does ``step``. A step not asked for succeeds doing
    nothing (a skipped task would skip the steps after it, and Airflow wants the tasks after
    a setup on all_success)."""
    steps = (params or {}).get("steps", STEPS)
    if step in steps:
        return True
    log.info("step %r is not in this run's steps %s: nothing done", step, steps)
    return False


def build() -> DAG:
    """The ``daily_signal_aggregation`` DAG under the settings as the environment holds them now; a DAG file
    calls this and keeps the result in its globals."""
    s = settings.current()

    @dag(
        **dag_settings("daily_signal_aggregation", __doc__, ["signals", "daily", "warehouse"], s),
        schedule=ClosedPeriodTimetable("0 0 * * *", delay=timedelta(minutes=30)),
        params={
            "workspace_id": Param(None, type=["null", "string"], pattern=UUID_PATTERN,
                                  description="Score only this workspace (null: every known workspace)"),
            "pack_id": Param(None, type=["null", "string"], pattern=PACK_PATTERN,
                             description="Scoring pack (null: the workspace's pack, else the default)"),
            "steps": Param(list(STEPS), type="array", items={"type": "string", "enum": list(STEPS)},
                           uniqueItems=True, minItems=1,
                           description="Steps to run; the others succeed doing nothing (granular mode)"),
            "hour": Param(None, type=["null", "string"], pattern=HOUR_PATTERN,
                          description="Ingest only this UTC hour (ISO, e.g. 2026-01-05T10:00:00+00:00)"),
        },
    )
    def daily_signal_aggregation() -> None:
        @task(multiple_outputs=False)
        def plan(params: dict[str, Any] | None = None) -> list[str]:
            """The workspaces to score (the mapped list); an unknown workspace or pack fails here,
            by name."""
            from airflow.sdk.exceptions import AirflowFailException

            from agent_warehouse.db import warehouse
            from agent_warehouse.signals import pipeline

            with warehouse() as conn:
                try:
                    given = injected(params, "params")
                    workspaces = pipeline.targets(conn, given["workspace_id"], given["pack_id"])
                except LookupError as exc:  # an unknown workspace or pack: retrying cannot help
                    raise AirflowFailException(str(exc)) from exc
            return workspaces

        @task(multiple_outputs=False)
        def ingest(opened: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
            """Every configured provider, once (for the day, or the `hour` param's hour); provider
            failures are recorded, not fatal."""
            from agent_warehouse.db import warehouse
            from agent_warehouse.signals import pipeline

            if not asked("ingest", params):
                return {"inserted": 0, "rejected": 0, "failed": [], "providers": {}}
            with warehouse() as conn:
                hour = injected(params, "params").get("hour")
                if hour:
                    return pipeline.ingest_hour(conn, datetime.fromisoformat(hour))
                return pipeline.ingest_day(conn, date.fromisoformat(opened["day"]))

        @task(multiple_outputs=False)
        def derive(opened: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any] | None:
            from agent_warehouse.db import warehouse
            from agent_warehouse.signals import derive

            if not asked("derive", params):
                return None
            with warehouse() as conn:
                return derive.derive_day(conn, date.fromisoformat(opened["day"]))

        @task(multiple_outputs=False, map_index_template="{{ task.op_kwargs['workspace_id'] }}")
        def score_and_rank(workspace_id: str, opened: dict[str, Any], report: dict[str, Any], params: dict[str, Any] | None = None, dag_run: Any = None) -> dict[str, Any] | None:
            """One workspace: scores, the ranked list (logged and stored) and its audit row."""
            from agent_warehouse.db import audit, warehouse
            from agent_warehouse.signals import pipeline

            if not asked("score", params):
                return None
            run_type, triggered_by = audit.run_identity(dag_run)
            with warehouse() as conn:
                result = pipeline.score_workspace(
                    conn, day=date.fromisoformat(opened["day"]), workspace_id=workspace_id,
                    pack_id=injected(params, "params")["pack_id"],
                    inserted=report["inserted"], dag_id=dag_run.dag_id, run_id=dag_run.run_id,
                    run_type=run_type, triggered_by=triggered_by)
            return {k: result[k] for k in ("workspace_id", "pack_id", "companies_scored", "ranked_count")}

        with audited_run("daily_aggregation", open_fn=open_signal_rows,
                         close_fn=close_signal_rows) as run:
            planned = plan()
            report = ingest(run.opened)
            derived = derive(run.opened)
            scored = score_and_rank.partial(opened=run.opened, report=report).expand(workspace_id=planned)
            planned >> report >> derived >> scored
            run.record(report, scored)

    return daily_signal_aggregation()
