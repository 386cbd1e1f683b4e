"""Airflow listener: the audit rows (``ops.job_runs``) follow every state Airflow gives a
DAG run, including the ones no task of the run sees (docs/audit.md, "Operator actions").

- ``on_dag_run_running``: a cleared run starts again; its finished rows become ``running``.
- ``on_dag_run_success`` / ``on_dag_run_failed``: fired by the scheduler when a run ends
  (the teardown has already written the same state: nothing changes) and, in Airflow 3.3,
  by the api-server when an operator sets the state (PATCH dagRun, the UI's "Mark as").
- ``on_starting``: the scheduler imports the package once (``preload``), so the task
  processes its LocalExecutor forks start with it imported (docs/operations.md).

Registered by the project's plugin (``listeners = [listeners]``). Hooks run inside the
scheduler's loop and the api-server's request: they only touch the rows of one run, and a
warehouse error is logged, never raised into Airflow.

A deleted run (DELETE dagRun) fires no hook: its audit rows stay as the run left them; the
warehouse's history outlives Airflow's metadata, like the rows the run wrote.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys
from collections.abc import Callable
from typing import Any

from airflow.listeners import hookimpl

from agent_warehouse import settings
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


# The api-server's web apps: never run in a task process.
NOT_PRELOADED = ("agent_warehouse.web",)


def preload() -> list[str]:
    """Import every module of the package a task can run (all but the web apps).

    The LocalExecutor forks its workers from the scheduler, and each task process from a
    worker: what the scheduler has imported, every task starts with. Without this each task
    process imported the package again while parsing its DAG file (about 0.2 s of CPU); with
    it the scheduler and its task processes spent 43.7 instead of 54.3 CPU-seconds on a 24-run
    backfill (tools/bench_backfill.py). The price: a new version of the package reaches tasks
    when the scheduler restarts, as with any installed package."""
    import agent_warehouse

    loaded = []
    for info in pkgutil.walk_packages(agent_warehouse.__path__, "agent_warehouse."):
        if not info.name.startswith(NOT_PRELOADED):
            importlib.import_module(info.name)
            loaded.append(info.name)
    return loaded


@hookimpl
def on_starting(component: Any) -> None:
    """Called as each Airflow job starts (scheduler, dag-processor, triggerer). Only the
    scheduler preloads: the dag-processor must see DAG changes, and the triggerer runs no task."""
    if sys.argv[1:2] != ["scheduler"] or not settings.current().preload:  # `airflow scheduler` only
        return
    try:
        log.info("preloaded %d modules for the task processes", len(preload()))
    except Exception:  # a task imports what it needs itself: never stop the scheduler
        log.exception("could not preload the package")


fix_airflow_in_this_process()
