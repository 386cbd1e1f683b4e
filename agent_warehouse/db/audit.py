"""``ops.job_runs``: one audit row per job execution."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from agent_warehouse.db import one_row, sql, transaction


def run_key(dag_id: str, run_id: str, workspace_id: str | None = None) -> str:
    """Idempotency key of a DAG run's audit row (a rerun reuses its row)."""
    return f"{dag_id}/{run_id}" + (f"/{workspace_id}" if workspace_id else "")


def start_job(
    conn: Any,
    *,
    job_type: str,
    dag_id: str,
    run_id: str,
    run_type: str | None = None,
    triggered_by: str | None = None,
    period_start: datetime | None = None,
    period_end: datetime | None = None,
    workspace_id: str | None = None,
    key: str | None = None,
) -> int:
    with transaction(conn) as cur:
        cur.execute(sql("audit/start_job.sql"), {
            "job_type": job_type, "dag_id": dag_id, "run_id": run_id,
            "workspace_id": workspace_id, "key": key or run_key(dag_id, run_id, workspace_id),
            "run_type": run_type, "triggered_by": triggered_by,
            "period_start": period_start, "period_end": period_end,
        })
        return one_row(cur)[0]


def finish_job(
    conn: Any,
    job_id: int,
    *,
    status: str,
    rows_written: int = 0,
    error: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    with transaction(conn) as cur:
        cur.execute(sql("audit/finish_job.sql"), {"id": job_id, "status": status, "rows_written": rows_written,
                              "error": error, "details": json.dumps(details or {}, default=str)})


def rows_written(conn: Any) -> int:
    """Rollup rows this connection's session inserted, updated or deleted in committed
    transactions so far (migration 0014); a task reads it once, before closing its connection."""
    with transaction(conn) as cur:
        cur.execute(sql("audit/rows_written.sql"))
        return int(one_row(cur)[0])


def record_error(conn: Any, key: str, error: str) -> None:
    with transaction(conn) as cur:
        cur.execute(sql("audit/record_error.sql"), {"key": key, "error": error[:4000]})
