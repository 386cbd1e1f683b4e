"""
### daily_signal_aggregation

Signals about companies for the previous UTC day, 00:30 UTC daily, and on demand (UI,
CLI, the internal API): **ingest** every configured provider once (a provider that fails
is recorded in `signals.provider_runs` and the others go on), **derive** per-company
features (counts, 7-/30-day velocity), then **score and rank** every workspace as one
mapped task per workspace, so each workspace's failure is visible and retryable alone.

Params: `workspace_id` (a uuid, or null for every workspace in `signals.workspace_packs`)
and `pack_id` (null: the workspace's pack, else the default pack). The ranked list of
emerging companies goes to each mapped task's log and to `signals.emerging_companies`.
One `ops.job_runs` row (`job_type = 'daily_aggregation'`) per run and workspace, plus a
run-level row for runs over every workspace. A rerun of a day changes no stored row.

A run started at T without a logical date (the API's runs) takes the day before T's date.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, chain, dag, task

from agent_warehouse import settings
from agent_warehouse.orchestration.deadlines import deadline_alert
from agent_warehouse.orchestration.tasks import DEFAULT_ARGS, check_schema_task
from agent_warehouse.orchestration.timetables import ClosedPeriodTimetable

UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
PACK_PATTERN = "^[a-z0-9_-]{1,64}$"


@dag(
    dag_id="daily_signal_aggregation",
    schedule=ClosedPeriodTimetable("0 0 * * *", delay=timedelta(minutes=30)),
    start_date=settings.START_DATE,
    catchup=True,
    max_active_runs=settings.MAX_ACTIVE_RUNS,
    max_active_tasks=settings.MAX_ACTIVE_TASKS,
    default_args=DEFAULT_ARGS,
    deadline=deadline_alert("daily_signal_aggregation", timedelta(hours=1)),
    params={
        "workspace_id": Param(None, type=["null", "string"], pattern=UUID_PATTERN,
                              description="Score only this workspace (null: every known workspace)"),
        "pack_id": Param(None, type=["null", "string"], pattern=PACK_PATTERN,
                         description="Scoring pack (null: the workspace's pack, else the default)"),
        "job_run_id": Param(None, type=["null", "integer"],
                            description="Set by the internal API: its ops.job_runs row"),
    },
    doc_md=__doc__,
    tags=["signals", "daily", "warehouse"],
)
def daily_signal_aggregation() -> None:
    @task
    def plan(params=None, dag_run=None, data_interval_start=None, ti=None) -> list[str]:
        """The workspaces to score (the mapped list) and, as XComs ``day`` and ``run_job_id``,
        the day and the run-level audit row; an unknown workspace or pack fails here, by name."""
        from agent_warehouse.db import hook_connection
        from agent_warehouse.signals import pipeline

        if data_interval_start is not None:
            day = data_interval_start.date()
        else:  # runs without a logical date (the API's): the last day closed at run_after
            day = dag_run.run_after.date() - timedelta(days=1)
        from airflow.sdk.exceptions import AirflowFailException

        conn = hook_connection()
        try:
            try:
                workspaces = pipeline.targets(conn, params["workspace_id"], params["pack_id"])
            except LookupError as exc:  # an unknown workspace or pack: retrying cannot help
                raise AirflowFailException(str(exc)) from exc
            job_id = None
            if params["workspace_id"] is None:
                job_id = pipeline.start_run_job(
                    conn, dag_id=dag_run.dag_id, run_id=dag_run.run_id, day=day,
                    run_type=str(getattr(dag_run.run_type, "value", dag_run.run_type)),
                    triggered_by=getattr(dag_run, "triggering_user_name", None),
                    job_run_id=params["job_run_id"])
        finally:
            conn.close()
        ti.xcom_push(key="day", value=day.isoformat())
        ti.xcom_push(key="run_job_id", value=job_id)
        return workspaces

    @task
    def ingest(day: str) -> dict:
        """Every configured provider, once; provider failures are recorded, not fatal."""
        from datetime import date

        from agent_warehouse.db import hook_connection
        from agent_warehouse.signals import pipeline

        conn = hook_connection()
        try:
            return pipeline.ingest_day(conn, date.fromisoformat(day))
        finally:
            conn.close()

    @task
    def derive(day: str) -> dict:
        from datetime import date

        from agent_warehouse.db import hook_connection
        from agent_warehouse.signals import derive

        conn = hook_connection()
        try:
            return derive.derive_day(conn, date.fromisoformat(day))
        finally:
            conn.close()

    @task(map_index_template="{{ task.op_kwargs['workspace_id'] }}")
    def score_and_rank(workspace_id: str, day: str, report: dict, params=None, dag_run=None) -> dict:
        """One workspace: scores, the ranked list (logged and stored) and its audit row."""
        from datetime import date

        from agent_warehouse.db import hook_connection
        from agent_warehouse.signals import pipeline

        conn = hook_connection()
        try:
            result = pipeline.score_workspace(
                conn, day=date.fromisoformat(day), workspace_id=workspace_id, pack_id=params["pack_id"],
                inserted=report["inserted"], dag_id=dag_run.dag_id, run_id=dag_run.run_id,
                run_type=str(getattr(dag_run.run_type, "value", dag_run.run_type)),
                triggered_by=getattr(dag_run, "triggering_user_name", None),
                # A one-workspace run started by the API updates the API's row.
                job_run_id=params["job_run_id"] if params["workspace_id"] else None)
        finally:
            conn.close()
        return {k: result[k] for k in ("workspace_id", "pack_id", "companies_scored", "ranked_count")}

    @task(trigger_rule="all_done")
    def finish_audit(params=None, dag_run=None, ti=None) -> None:
        """Close the run-level row; mark rows no task closed as failed; fail the run if a step did."""
        from datetime import date

        from agent_warehouse.db import hook_connection
        from agent_warehouse.signals import pipeline

        planned = {"workspaces": ti.xcom_pull(task_ids="plan"), "day": ti.xcom_pull(task_ids="plan", key="day"),
                   "run_job_id": ti.xcom_pull(task_ids="plan", key="run_job_id")}
        report = ti.xcom_pull(task_ids="ingest")
        derived = ti.xcom_pull(task_ids="derive")
        expected = len(planned["workspaces"] or [])
        pulled = ti.xcom_pull(task_ids="score_and_rank", map_indexes=list(range(expected))) if expected else []
        results = [r for r in ([pulled] if isinstance(pulled, dict) else pulled or []) if r]
        error = None
        if planned["workspaces"] is None or report is None or derived is None or len(results) != expected:
            error = (f"daily_signal_aggregation did not complete: {len(results)} of {expected} "
                     "workspaces scored; see the failed task")
        conn = hook_connection()
        try:
            if planned.get("run_job_id"):
                pipeline.finish_run_job(conn, planned["run_job_id"], day=date.fromisoformat(planned["day"]),
                                        inserted=(report or {}).get("inserted", 0), results=results,
                                        error=error)
            if error:
                pipeline.fail_open_jobs(conn, dag_id=dag_run.dag_id, run_id=dag_run.run_id,
                                        job_run_id=params.get("job_run_id"), error=error)
        finally:
            conn.close()
        if error:  # the failed step retries on its own; this summary would only repeat it
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(error)

    planned = plan()
    report = ingest(planned["day"])
    derived = derive(planned["day"])
    scored = score_and_rank.partial(day=planned["day"], report=report).expand(
        workspace_id=planned)
    chain(check_schema_task(), planned, report, derived, scored, finish_audit())


daily_signal_aggregation()
