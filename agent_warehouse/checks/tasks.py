"""The self-checks as Airflow tasks, for the rollup DAGs' factories
(``orchestration/dags/*.py``): each DAG adds them in a line.

- ``checks_task(grain, *outputs)``: the hourly (``"hour"``) or daily (``"day"``) run's
  checks as one task, ``check_hours`` or ``check_days``: every period the rollup tasks'
  outputs wrote reconciled against its source, then the run's hour or day scored for
  anomalies and the new ones notified. One task rather than two: a task costs more Airflow
  time than both checks' queries on a 200,000-run hour.
- ``reconcile_task(*outputs)``: the reconciliation alone (the weekly run has no anomalies).

Reconciliation reads the periods named in the outputs (their ``Written`` details: ``hour``,
``hours_repaired``, ``hours_rolled_up``, ``days``, ``weeks``), re-rolls what differs and
fails, without retrying, when a period is still wrong after that (``checks/reconcile.py``).
Incidents and anomalies name the run that found them (the reports link to it).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)


def periods_written(outputs: list[Any]) -> dict[str, list[str]]:
    """The hours, days and weeks the rollup tasks' outputs say they wrote."""
    found: dict[str, list[str]] = {"hours": [], "days": [], "weeks": []}
    # an SQL operator's output (output_processor sql_written) is a list of one Written
    flat = [o for out in outputs for o in (out if isinstance(out, list) else [out])]
    for out in flat:
        details = (out or {}).get("details") or {}
        if details.get("hour"):
            found["hours"].append(details["hour"])
        found["hours"] += details.get("hours_repaired", []) + details.get("hours_rolled_up", [])
        found["days"] += details.get("days", [])
        found["weeks"] += details.get("weeks", [])
    return found


def _reconciled(written: list[dict[str, Any]], run: Any) -> tuple[dict[str, Any], int]:
    """Every period named in ``written`` checked (and re-rolled where it differs)."""
    from airflow.sdk.exceptions import AirflowFailException

    from agent_warehouse.checks import reconcile
    from agent_warehouse.orchestration.audit import counted

    found = periods_written(written)
    try:
        return counted(reconcile.reconcile, found["hours"], found["days"], found["weeks"],
                       dag_id=run.dag_id, run_id=run.run_id)
    except reconcile.ReconciliationError as exc:
        # re-rolled and checked twice already: a retry would only find it again
        raise AirflowFailException(f"reconcile: {exc}") from exc


def _detected(grain: str, start: datetime, run: Any, context: dict[str, Any]) -> dict[str, Any]:
    """The run's hour, or every hour of its day, scored; the new flagged rows notified."""
    from agent_warehouse.checks import anomalies, notify
    from agent_warehouse.orchestration.audit import counted

    found_by = {"dag_id": run.dag_id, "run_id": run.run_id}
    start = start.astimezone(UTC)
    if grain == "day":
        start = datetime(start.year, start.month, start.day, tzinfo=UTC)
        got, _ = counted(anomalies.detect_day, start.date(), **found_by)
        end = start + timedelta(days=1)
    else:
        got, _ = counted(anomalies.detect_hour, start, **found_by)
        end = start + timedelta(hours=1)
    try:
        got["notified"], _ = counted(notify.notify_anomalies, start, end, {**context, "dag_run": run})
    except Exception as exc:  # the rows stay unsent and go with the next run's
        log.warning("could not send the anomalies: %r", exc)
        got["notify_error"] = repr(exc)[:500]
    log.info("anomalies: %s", got)
    return got


def checks_task(grain: str, *outputs: Any) -> Any:
    from airflow.sdk import task

    @task(task_id=f"check_{grain}s", multiple_outputs=False)
    def check(written: list[dict[str, Any]], data_interval_start: Any = None, dag_run: Any = None,
              **context: Any) -> dict[str, Any]:
        """The periods this run wrote against their source, then its anomalies."""
        from agent_warehouse.orchestration.tasks import injected

        run = injected(dag_run, "dag_run")
        out, rows = _reconciled(written, run)
        start = injected(data_interval_start, "data_interval_start")
        got = _detected(grain, start, run, {**context, "data_interval_start": data_interval_start})
        return {"rows_written": rows, "details": {**out, "anomalies": got}}

    return check(list(outputs))


def reconcile_task(*outputs: Any) -> Any:
    from airflow.sdk import task

    @task(task_id="reconcile", multiple_outputs=False)
    def reconcile(written: list[dict[str, Any]], dag_run: Any = None) -> dict[str, Any]:
        """Each period this run wrote against its source; re-rolled where they differ."""
        from agent_warehouse.orchestration.tasks import injected

        out, rows = _reconciled(written, injected(dag_run, "dag_run"))
        return {"rows_written": rows, "details": out}

    return reconcile(list(outputs))
