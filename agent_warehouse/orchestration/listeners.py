"""Airflow listener: the audit rows (``ops.job_runs``) follow every state Airflow gives a
DAG run, including the ones no task of the run sees (docs/audit.md, "Operator actions").

- ``on_dag_run_running``: a cleared run starts again; its finished rows become ``running``.
- ``on_dag_run_success`` / ``on_dag_run_failed``: fired by the scheduler when a run ends
  (the teardown has already written the same state: nothing changes) and, in Airflow 3.3,
  by the api-server when an operator sets the state (PATCH dagRun, the UI's "Mark as").

Registered by the project's plugin (``listeners = [listeners]``). Hooks run inside the
scheduler's loop and the api-server's request: they only touch the rows of one run, and a
warehouse error is logged, never raised into Airflow.

A deleted run (DELETE dagRun) fires no hook: its audit rows stay as the run left them; the
warehouse's history outlives Airflow's metadata, like the rows the run wrote.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from airflow.listeners import hookimpl

from agent_warehouse.db import audit
from agent_warehouse.orchestration.deadlines import fix_airflow_in_this_process

log = logging.getLogger(__name__)


def _follow(dag_run: Any, change: Callable[..., list[int]], **params: Any) -> None:
    """``change(conn, dag_id=, run_id=, **params)`` on the run's rows, never raising."""
    from agent_warehouse.db import warehouse

    try:
        with warehouse() as conn:
            changed = change(conn, dag_id=dag_run.dag_id, run_id=dag_run.run_id, **params)
        if changed:
            log.info("audit rows %s of %s %s: %s", changed, dag_run.dag_id, dag_run.run_id, change.__name__)
    except Exception:  # the warehouse being down must not stop Airflow's scheduler or API
        log.exception("could not update the audit rows of %s %s", dag_run.dag_id, dag_run.run_id)


@hookimpl
def on_dag_run_running(dag_run: Any, msg: str) -> None:
    _follow(dag_run, audit.reopen_cleared_run)


@hookimpl
def on_dag_run_success(dag_run: Any, msg: str) -> None:
    _follow(dag_run, audit.follow_run_state, status="success", note=msg)


@hookimpl
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    _follow(dag_run, audit.follow_run_state, status="failed", note=f"run failed: {msg}")


fix_airflow_in_this_process()
