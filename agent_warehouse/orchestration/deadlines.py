"""Deadline alerts (Airflow 3's replacement for SLAs) and what a miss does."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from agent_warehouse import settings

log = logging.getLogger(__name__)


def _record(dag_id: str, run_id: str, minutes: float, detail: str) -> None:
    from agent_warehouse.checks.freshness import freshness_summary
    from agent_warehouse.db import sql, transaction, warehouse

    with warehouse() as conn:
        try:  # what the late run left behind; the miss is recorded even if this cannot be read
            detail = f"{detail}; {freshness_summary(conn)}"[:2000]
        except Exception:
            conn.rollback()
            log.warning("could not read the freshness for the deadline miss", exc_info=True)
        with transaction(conn) as cur:
            cur.execute(sql("audit/record_deadline_miss.sql"),
                        {"dag_id": dag_id, "run_id": run_id, "minutes": minutes, "detail": detail})


async def deadline_missed(context: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """Log the miss and record it in ``ops.deadline_misses`` (runs in the triggerer)."""
    context = context or {}
    dag_run = context.get("dag_run") or {}
    dag_id = kwargs.get("dag_id") or getattr(dag_run, "dag_id", None) or str(dag_run.get("dag_id", "?"))
    # The scheduler sends the run as a DAGRunResponse dump, whose id field is "dag_run_id".
    run_id = getattr(dag_run, "run_id", None) or str(dag_run.get("run_id") or dag_run.get("dag_run_id") or "?")
    minutes = float(kwargs.get("minutes", 0))
    log.warning("deadline missed: %s %s did not finish within %s minutes", dag_id, run_id, minutes)
    await asyncio.to_thread(_record, dag_id, run_id, minutes, str(context.get("deadline", ""))[:500])


def deadline_alert(dag_id: str, target: timedelta) -> Any:
    """A DeadlineAlert ``target`` after the run is queued, or None where deadlines are off."""
    if not settings.current().deadlines:
        return None
    from airflow.sdk.definitions.callback import AsyncCallback
    from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=target,
        callback=AsyncCallback(deadline_missed,
                               kwargs={"dag_id": dag_id, "minutes": target.total_seconds() / 60}),
    )


# ---------------------------------------------------------------- Airflow 3.3.2's clear bug
# Clearing a task or run (the UI's "Clear", POST .../clearTaskInstances with its default
# reset_dag_runs=true) re-anchors the run's DAGRUN_QUEUED_AT deadline at the new queued_at.
# Airflow 3.3.0 to 3.3.2 do it with ``timedelta(seconds=deadline_alert.interval)`` on the
# JSON-encoded interval and answer 500 while the deadline is pending (apache/airflow#70368,
# fix in PR #70370, not released). Until an Airflow release fixes it, the package replaces
# that one function, in the processes that clear (api-server, CLI), by one that decodes the
# interval the way DagRun creation does. Applied only while the installed function still has
# the bug; tests/unit/orchestration/test_airflow_fixes.py fails once it no longer does.
BUGGY_LINE = "timedelta(seconds=deadline_alert.interval)"
FIX_MARK = "_agent_warehouse_fix"


def clear_deadline_bug_present(func: Any = None) -> bool:
    """Whether Airflow's ``_recalculate_dagrun_queued_at_deadlines`` still has #70368."""
    import inspect

    if func is None:
        from airflow.models import taskinstance

        func = taskinstance._recalculate_dagrun_queued_at_deadlines
    func = getattr(func, "__wrapped__", func)
    try:
        return BUGGY_LINE in inspect.getsource(func)
    except (OSError, TypeError):  # no source: assume a release that has the fix
        return False


def _recalculate_queued_at_deadlines(dagrun: Any, new_queued_at: Any, session: Any) -> None:
    """Airflow's function with the interval decoded (as DagRun creation decodes it)."""
    from airflow.models.deadline import Deadline, ReferenceModels
    from airflow.models.deadline_alert import DeadlineAlert as DeadlineAlertModel
    from airflow.serialization.decoders import decode_deadline_alert
    from airflow.serialization.definitions.deadline import DeadlineAlertFields, SerializedVariableInterval
    from airflow.serialization.enums import DagAttributeTypes, Encoding
    from sqlalchemy import false, select

    rows = session.execute(
        select(Deadline, DeadlineAlertModel)
        .join(DeadlineAlertModel, Deadline.deadline_alert_id == DeadlineAlertModel.id)
        .where(
            Deadline.dagrun_id == dagrun.id,
            Deadline.missed == false(),
            DeadlineAlertModel.reference[ReferenceModels.REFERENCE_TYPE_FIELD].as_string()
            == ReferenceModels.DagRunQueuedAtDeadline.__name__,
        )
    ).all()
    for deadline, alert in rows:
        decoded = decode_deadline_alert({
            Encoding.TYPE: DagAttributeTypes.DEADLINE_ALERT,
            Encoding.VAR: {
                DeadlineAlertFields.REFERENCE: alert.reference,
                DeadlineAlertFields.INTERVAL: alert.interval,
                DeadlineAlertFields.CALLBACK: alert.callback_def,
            },
        })
        interval = decoded.interval
        if isinstance(interval, SerializedVariableInterval):
            interval = interval.resolve()
        if not isinstance(interval, timedelta):  # a plain number of seconds (pre-3.3 rows)
            interval = timedelta(seconds=float(interval))
        deadline.deadline_time = new_queued_at + interval
    # No flush: the caller commits with the rest of the clear, as Airflow's function does.


def fix_clear_with_pending_deadline() -> bool:
    """Replace Airflow's buggy deadline recalculation on clear (once per process); returns
    whether the replacement is in place. A no-op on an Airflow without the bug."""
    from airflow.models import taskinstance

    current = taskinstance._recalculate_dagrun_queued_at_deadlines
    if getattr(current, FIX_MARK, False):
        return True
    if not clear_deadline_bug_present(current):
        return False

    def recalculate(dagrun: Any, new_queued_at: Any, session: Any) -> None:
        _recalculate_queued_at_deadlines(dagrun, new_queued_at, session)

    recalculate.__wrapped__ = current  # type: ignore[attr-defined]
    setattr(recalculate, FIX_MARK, True)
    taskinstance._recalculate_dagrun_queued_at_deadlines = recalculate
    log.info("agent_warehouse: clearing keeps queued-at deadlines (workaround for apache/airflow#70368)")
    return True


def fix_airflow_in_this_process() -> None:
    """Apply the workaround in Airflow's own processes (api-server, scheduler, CLI), never in
    a task worker: a worker never clears, and should not import Airflow's core models."""
    import sys

    # A task worker talks to its supervisor (the api-server imports the module, never sets it).
    runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    if runner is not None and getattr(runner, "SUPERVISOR_COMMS", None) is not None:
        return
    try:
        fix_clear_with_pending_deadline()
    except Exception:  # never a reason for the plugin (and the api-server) not to load
        log.exception("could not apply the workaround for apache/airflow#70368")
