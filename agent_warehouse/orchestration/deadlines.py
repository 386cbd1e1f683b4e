"""Deadline alerts (Airflow 3's replacement for SLAs) and what a miss does."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from agent_warehouse import settings

log = logging.getLogger(__name__)


def _record(dag_id: str, run_id: str, minutes: float, detail: str) -> None:
    from agent_warehouse.db import sql, transaction, warehouse

    with warehouse() as conn, transaction(conn) as cur:
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
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=target,
        callback=AsyncCallback(deadline_missed,
                               kwargs={"dag_id": dag_id, "minutes": target.total_seconds() / 60}),
    )
