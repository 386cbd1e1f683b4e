"""Real Airflow runs of the project's DAGs inside the test process."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import pytest


def run_dag(dagbag: Any, dag_id: str, run_at: datetime, monkeypatch: pytest.MonkeyPatch | None = None,
            conf: dict | None = None, no_logical_date: bool = False) -> Any:
    """One real Airflow run of ``dag_id`` started at ``run_at`` (it takes the last period
    closed then). Airflow 3.3.2's dag.test() fails on deadlines after the tasks ran (see
    README, "Deadlines"), so the alert is lifted for the test run only."""
    dag = dagbag.get_dag(dag_id)
    assert dag is not None, dagbag.import_errors
    # Lifted for this run only: the DagBag is shared, and a later test reads the alerts.
    deadline, dag.deadline = dag.deadline, None
    # An in-process run merges its conf into the params of the DAG's task objects, which the
    # shared DagBag hands to every later test: give them back their own params afterwards.
    saved = {task.task_id: copy.deepcopy(task.params) for task in dag.tasks}
    try:
        # no_logical_date: as POST /api/v2/dags/{id}/dagRuns makes a run by default.
        return dag.test(logical_date=None if no_logical_date else run_at, run_after=run_at, run_conf=conf)
    finally:
        dag.deadline = deadline
        for task in dag.tasks:
            task.params = saved[task.task_id]
