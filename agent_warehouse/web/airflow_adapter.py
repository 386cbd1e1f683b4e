"""The Airflow internals the internal API needs, and nothing else reaches for: Airflow 3
does not promise to keep ``DagModel``, ``DagRun``, ``create_session`` or ``trigger_dag``
where they are. ``tests/unit/web/test_airflow_adapter.py`` imports each of them from the
installed Airflow and fails, naming the one that moved, after an upgrade that moves it.

Imported inside the functions: the api-server loads the plugin before its ORM is set up.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

log = logging.getLogger(__name__)

# (module, name) of every Airflow internal used here: what the unit test checks.
INTERNALS = (
    ("airflow.models.dag", "DagModel"),
    ("airflow.models.dagrun", "DagRun"),
    ("airflow.utils.session", "create_session"),
    ("airflow.api.common.trigger_dag", "trigger_dag"),
    ("airflow.exceptions", "DagRunAlreadyExists"),
    ("airflow.utils.types", "DagRunTriggeredByType"),
)


def dag_state(dag_id: str) -> tuple[bool, bool]:
    """(known, paused) for the DAG in Airflow's metadata database."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        model = session.get(DagModel, dag_id)
        return model is not None, bool(model and model.is_paused)


def dag_run_exists(dag_id: str, run_id: str) -> bool:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return session.scalar(select(DagRun.id).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)) is not None


def trigger(dag_id: str, run_id: str, conf: dict[str, Any], run_after: datetime, user: str) -> None:
    """Start a DAG run without a logical date (the scheduler executes it); an existing run of
    that id is the run."""
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.exceptions import DagRunAlreadyExists
    from airflow.utils.types import DagRunTriggeredByType
    from sqlalchemy.exc import IntegrityError

    try:
        # No logical date: runs of several workspaces for the same day must not collide on
        # (dag_id, logical_date); the DAG takes the period before run_after, as a manual run does.
        trigger_dag(dag_id, run_id=run_id, conf=conf, logical_date=None, run_after=run_after,
                    triggered_by=DagRunTriggeredByType.REST_API, triggering_user_name=user)
    except (DagRunAlreadyExists, IntegrityError):  # IntegrityError: a concurrent replay won the race
        log.info("DAG run %s already exists; answering with it", run_id)
