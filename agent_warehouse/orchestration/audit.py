"""One ``ops.job_runs`` row per DAG run, always agreeing with the run (docs/audit.md).

Every DAG wraps its work in :func:`audited_run`: a setup task ``start_audit`` opens the row,
the work tasks run, and a teardown task ``finish_audit`` closes it. Airflow decides the run's
state from the work tasks (teardowns are left out of that decision), and the teardown reads
the same thing Airflow reads, the states of the run's task instances, so the row's status
is the run's state: ``failed`` as soon as one work task failed, with the failed tasks named
in ``error``. The outputs (:class:`Written` values) of the tasks the block records reach the
teardown as a list per task, read after the run's states (a failed task has none, and asking
for a missing one by key would log "XCom not found" in every failed run); they only give the
figures: a missing output decides nothing.

The block also gives every task of the DAG its run's period when the run has no logical
date (``timetables.with_run_period``).

The setup also does what every run needs before its work, as queries rather than tasks of
their own (a task costs about a second and a half of Airflow): the schema check, before the
row is opened, and for the DAGs that insert raw rows' days, the raw partitions ahead, after.
A run whose schema check fails (warehouse unreachable, ``make migrate`` due) fails in
``start_audit`` and leaves no row: the audit table is part of the schema it checks. A run
whose partitions cannot be created closes its row ``failed`` before failing (a teardown does
not run after a failed setup).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any, TypedDict

from agent_warehouse.db import audit, warehouse
from agent_warehouse.orchestration.timetables import with_run_period

log = logging.getLogger(__name__)
OPEN_TASK = "start_audit"
CLOSE_TASK = "finish_audit"
# States of a work task that make Airflow fail the run (a failed task's downstream tasks
# become upstream_failed, and some of them are leaves).
FAILING_STATES = frozenset({"failed", "upstream_failed"})


class Written(TypedDict):
    """What a task that writes to the warehouse returns (its task output)."""

    rows_written: int  # rows inserted, updated or deleted (ops.rows_written(), migration 0014)
    details: dict[str, Any]  # JSON for ops.job_runs.details, under the task's id


class Outcome(TypedDict):
    """The run's outcome as Airflow records it, read by the teardown."""

    status: str  # "success" or "failed": the state the DAG run ends in
    failed_tasks: list[str]  # tasks that failed (mapped ones as task_id_<map index>)
    error: str | None


def run_outcome(context: Any) -> Outcome:
    """The run's outcome from its task instances' states (all work tasks are done here)."""
    ti, dag_run = context["ti"], context["dag_run"]
    states = ti.get_task_states(dag_id=dag_run.dag_id, run_ids=[dag_run.run_id]).get(dag_run.run_id, {})
    others = {k: s for k, s in states.items() if k not in (ti.task_id, OPEN_TASK)}
    failed = sorted(k for k, s in others.items() if s == "failed")
    if not failed and not any(s in FAILING_STATES for s in others.values()):
        return {"status": "success", "failed_tasks": [], "error": None}
    blocked = sorted(k for k, s in others.items() if s == "upstream_failed")
    error = f"failed: {', '.join(failed) or '?'}" + (f"; not run: {', '.join(blocked)}" if blocked else "")
    return {"status": "failed", "failed_tasks": failed, "error": error}


def open_row(job_type: str, context: Any) -> int:
    """Open (or, for a rerun of the same DAG run, reopen) the run's row; returns its id."""
    dag_run = context["dag_run"]
    run_type, triggered_by = audit.run_identity(dag_run)
    with warehouse() as conn:
        return audit.start_job(
            conn,
            job_type=job_type,
            dag_id=dag_run.dag_id,
            run_id=dag_run.run_id,
            run_type=run_type,
            triggered_by=triggered_by,
            period_start=context.get("data_interval_start"),
            period_end=context.get("data_interval_end"),
        )


def fail_opened_row(opened: Any, error: str) -> None:
    """The setup failed after it opened the row: close it ``failed`` now, since the teardown
    will not run (a retry of the setup reopens it)."""
    if isinstance(opened, int):  # the one row of ``open_row``
        with warehouse() as conn:
            audit.finish_job(conn, opened, status="failed", error=error)


def close_row(job_id: int, written: dict[str, Written | None], outcome: Outcome, context: Any) -> None:
    """Close the row with the run's outcome and what the work tasks wrote."""
    done = [w for w in written.values() if w]
    details: dict[str, Any] = {}
    for w in done:  # each task names its own keys
        details.update(w["details"])
    with warehouse() as conn:
        audit.finish_job(conn, job_id, status=outcome["status"],
                         rows_written=sum(int(w["rows_written"]) for w in done),
                         error=outcome["error"], details=details)


def open_signal_rows(job_type: str, context: Any) -> dict[str, Any]:
    """``daily_signal_aggregation``'s setup: the run's day and, for a run over every
    workspace, its run-level row (each workspace's task claims its own row)."""
    from agent_warehouse.signals import pipeline

    dag_run, start = context["dag_run"], context.get("data_interval_start")
    # Runs without a logical date (the API's) take the last day closed at run_after.
    day = start.date() if start is not None else dag_run.run_after.date() - timedelta(days=1)
    job_id = None
    if context["params"]["workspace_id"] is None:
        run_type, triggered_by = audit.run_identity(dag_run)
        period_start, period_end = pipeline.day_bounds(day)
        with warehouse() as conn:
            job_id = audit.claim_job(conn, dag_id=dag_run.dag_id, run_id=dag_run.run_id,
                                     period_start=period_start, period_end=period_end,
                                     run_type=run_type, triggered_by=triggered_by)
    return {"day": day.isoformat(), "run_job_id": job_id}


def close_signal_rows(opened: dict[str, Any], written: dict[str, Any], outcome: Outcome, context: Any) -> None:
    """``daily_signal_aggregation``'s teardown: the run-level row gets the run's state and
    the workspaces' totals; rows of this run that no task closed (an upstream task failed)
    are marked failed."""
    from agent_warehouse.signals import pipeline

    dag_run = context["dag_run"]
    # Indexed up to its length: iterating the mapped outputs reads one past the end and logs
    # an "XCom not found" error.
    mapped = written.get("score_and_rank") or []
    results = [r for r in (mapped[i] for i in range(len(mapped))) if r]
    with warehouse() as conn:
        if opened["run_job_id"]:
            scored = sum(r["companies_scored"] for r in results)
            ranked = sum(r["ranked_count"] for r in results)
            audit.finish_job(conn, opened["run_job_id"], status=outcome["status"], rows_written=scored + ranked,
                             error=outcome["error"], details={"workspaces": len(results)},
                             signals={"inserted": (written.get("ingest") or {}).get("inserted", 0),
                                      "companies_scored": scored, "ranked_count": ranked},
                             period=pipeline.day_bounds(date.fromisoformat(opened["day"])))
        if outcome["error"]:
            audit.fail_open_jobs(conn, dag_id=dag_run.dag_id, run_id=dag_run.run_id, error=outcome["error"])


def counted(work: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, int]:
    """``work(conn, ...)`` on the task's own warehouse connection, and the rollup rows it
    wrote (inserted, updated or deleted; migration 0014), for the task's :class:`Written`."""
    with warehouse() as conn:
        result = work(conn, *args, **kwargs)
        return result, audit.rows_written(conn)


def counted_rollup(rollup: Callable[[Any, date], dict[str, Any]], period_start: Any) -> Written:
    """A daily or weekly rollup task's output: ``rollup(conn, day)`` (``periods.daily`` or
    ``periods.weekly``) for the run's period, the rows it wrote and what it rolled up."""
    from agent_warehouse.rollups import periods

    rolled, written = counted(rollup, periods.as_date(period_start))
    details: dict[str, Any] = {"days": [d["day"] for d in rolled["days"]],
                               "hours_repaired": rolled["hours_repaired"],
                               "hours_rolled_up": rolled["hours_rolled_up"]}
    if "weeks" in rolled:
        details["weeks"] = [w["week_start"] for w in rolled["weeks"]]
    return {"rows_written": written, "details": details}


class AuditScope:
    """Handed to the ``with audited_run(...)`` block: the setup's output and the tasks whose
    :class:`Written` outputs go to the audit row."""

    def __init__(self, opened: Any) -> None:
        self.opened = opened
        self.written: dict[str, bool] = {}  # task id -> mapped

    def record(self, *outputs: Any) -> None:
        """Task outputs (XComArgs) whose rows and details the teardown adds to the row."""
        for output in outputs:
            operator = output.operator
            self.written[operator.task_id] = bool(getattr(operator, "is_mapped", False))


def recorded_outputs(context: Any, recorded: dict[str, bool]) -> dict[str, Any]:
    """The recorded tasks' outputs: a mapped task's as the list of its map indexes' outputs,
    another's as its output or None. Read as sequences, which answer an empty list for a task
    that pushed nothing (a failed one), where a keyed pull would log "XCom not found"."""
    ti = context["ti"]
    out: dict[str, Any] = {}
    for task_id, mapped in recorded.items():
        values = [v for v in (ti.xcom_pull(task_ids=[task_id]) or []) if v is not None]
        out[task_id] = values if mapped else (values[0] if values else None)
    return out


def close_abandoned_rows(context: Any) -> list[int]:
    """Rows of this DAG's other runs still open whose run Airflow has ended: their teardown
    failed after its retries (the run's own state is right; the row was not). Each is closed
    with the run's final state. Returns their ids."""
    ti, dag_run = context["ti"], context["dag_run"]
    closed: list[int] = []
    with warehouse() as conn:
        rows = audit.unclosed_rows(conn, dag_id=dag_run.dag_id, run_id=dag_run.run_id)
        # One question first: usually every such row is a run still running (a backfill runs
        # up to 10 at once), and asking each run's state is one API call per row.
        if not rows or not ti.get_dr_count(dag_id=dag_run.dag_id, run_ids=[r for _, r in rows],
                                           states=["success", "failed"]):
            return closed
        for job_id, run_id in rows:
            try:
                state = ti.get_dagrun_state(dag_run.dag_id, run_id)
            except Exception:  # a run Airflow does not know (yet): leave its row as it is
                continue
            state = getattr(state, "value", state)
            if state not in ("success", "failed"):  # still queued or running
                continue
            audit.close_abandoned(conn, job_id, status=state, closed_by=dag_run.run_id)
            closed.append(job_id)
    return closed


@contextmanager
def audited_run(
    job_type: str,
    *,
    check_schema: bool = True,
    partitions_from: str | None = None,
    open_fn: Callable[[str, Any], Any] = open_row,
    close_fn: Callable[[Any, dict[str, Any], Outcome, Any], None] = close_row,
) -> Iterator[AuditScope]:
    """Wrap the tasks created inside the block between ``start_audit`` (setup) and
    ``finish_audit`` (teardown, upstream of it: every task created in the block).

    The setup checks the schema first (``check_schema``) and, with ``partitions_from`` (a
    context key: ``"data_interval_start"``), creates the raw partitions ahead from that day.
    ``open_fn(job_type, context)`` returns the setup's output, ``close_fn(opened, written,
    outcome, context)`` closes the row(s); the defaults keep one row per run.
    """
    from airflow.sdk import get_current_context, task

    @task(task_id=OPEN_TASK, multiple_outputs=False)
    def start_audit() -> Any:
        """Check the warehouse schema, open the run's ops.job_runs row (setup: the teardown
        closes it), create the raw partitions ahead, and close the rows earlier runs left open."""
        from agent_warehouse.orchestration import tasks

        context = get_current_context()
        if check_schema:  # before the row: the audit table is part of the schema it checks
            tasks.check_schema()
        opened = open_fn(job_type, context)
        if partitions_from is not None:
            try:
                created = tasks.ensure_partitions(context.get(partitions_from))
            except Exception as exc:
                fail_opened_row(opened, f"failed: {OPEN_TASK} (raw partitions ahead): {exc!r}"[:4000])
                raise
            log.info("raw partitions ahead: %d created", created)
        try:  # housekeeping for earlier runs: never a reason to fail this one
            close_abandoned_rows(context)
        except Exception:
            log.warning("could not close the audit rows earlier runs left open", exc_info=True)
        return opened

    @task(task_id=CLOSE_TASK, multiple_outputs=False)
    def finish_audit(opened: Any) -> str:
        """Close the row with the run's state as Airflow decides it (teardown)."""
        context = get_current_context()
        outcome = run_outcome(context)
        close_fn(opened, recorded_outputs(context, scope.written), outcome, context)
        return outcome["status"]

    # XComArgs (typed by Airflow as the DependencyMixin their as_setup returns)
    opened: Any = start_audit().as_setup()
    dag = opened.operator.dag
    before = set(dag.task_dict)
    scope = AuditScope(opened)
    yield scope
    inside = [dag.task_dict[t] for t in dag.task_dict if t not in before]
    # on_failure_fail_dagrun stays False: with it, Airflow would count the teardown as the
    # run's only leaf and a successful close would turn a failed run green.
    closed: Any = finish_audit(opened).as_teardown(setups=opened.operator)
    ids = {t.task_id for t in inside}
    for t in inside:
        if not ids & t.upstream_task_ids:
            opened.operator >> t
        t >> closed.operator
    with_run_period(dag)

