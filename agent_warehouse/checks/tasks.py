"""The self-checks as Airflow tasks, for the rollup DAGs' factories
(``orchestration/dags/*.py``): each DAG adds them in a line or two.

- ``reconcile_task(*outputs)``: reconciles every period named in the given rollup tasks'
  outputs (their ``Written`` details: ``hour``, ``hours_repaired``, ``hours_rolled_up``,
  ``days``, ``weeks``), re-rolls what differs and fails, without retrying, when a period is
  still wrong after that (``checks/reconcile.py``).
- ``anomalies_task(grain)``: scores the run's hour (``"hour"``) or every hour of its day
  (``"day"``) and sends new flagged rows through the configured notifier.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


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


def reconcile_task(*outputs: Any) -> Any:
    from airflow.sdk import task

    @task(task_id="reconcile", multiple_outputs=False)
    def reconcile(written: list[dict[str, Any]], dag_run: Any = None) -> dict[str, Any]:
        """Each period this run wrote against its source; re-rolled where they differ."""
        from airflow.sdk.exceptions import AirflowFailException

        from agent_warehouse.checks import reconcile as checks
        from agent_warehouse.orchestration.audit import counted
        from agent_warehouse.orchestration.tasks import injected

        run = injected(dag_run, "dag_run")  # the incidents name the run that found them
        found = periods_written(written)
        try:
            out, rows = counted(checks.reconcile, found["hours"], found["days"], found["weeks"],
                                dag_id=run.dag_id, run_id=run.run_id)
        except checks.ReconciliationError as exc:
            # re-rolled and checked twice already: a retry would only find it again
            raise AirflowFailException(str(exc)) from exc
        return {"rows_written": rows, "details": out}

    return reconcile(list(outputs))


def anomalies_task(grain: str) -> Any:
    from airflow.sdk import task

    @task(task_id="detect_anomalies", multiple_outputs=False)
    def detect_anomalies(data_interval_start: Any = None, dag_run: Any = None, **context: Any) -> dict[str, Any]:
        """Flag workspaces failing or slowing down against their own 7-day baseline; notify.
        Each flagged row names this run (the report links to it)."""
        import logging

        from agent_warehouse.checks import anomalies, notify
        from agent_warehouse.orchestration.audit import counted
        from agent_warehouse.orchestration.tasks import injected

        run = injected(dag_run, "dag_run")
        found_by = {"dag_id": run.dag_id, "run_id": run.run_id}
        start = injected(data_interval_start, "data_interval_start").astimezone(UTC)
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
            logging.getLogger(__name__).warning("could not send the anomalies: %r", exc)
            got["notify_error"] = repr(exc)[:500]
        return {"rows_written": 0, "details": got}

    return detect_anomalies()
