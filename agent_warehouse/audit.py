"""``ops.job_runs``: one audit row per job execution."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from agent_warehouse.db import transaction

_START = """
INSERT INTO ops.job_runs AS j (job_type, dag_id, run_id, workspace_id, status, started_at,
                               idempotency_key, run_type, triggered_by, period_start, period_end)
VALUES (%(job_type)s, %(dag_id)s, %(run_id)s, %(workspace_id)s, 'running', now(),
        %(key)s, %(run_type)s, %(triggered_by)s, %(period_start)s, %(period_end)s)
ON CONFLICT (idempotency_key) DO UPDATE SET
    status = 'running', started_at = now(), finished_at = NULL, error = NULL,
    run_type = EXCLUDED.run_type, triggered_by = EXCLUDED.triggered_by
RETURNING id
"""

_FINISH = """
UPDATE ops.job_runs
SET status = %(status)s, finished_at = now(), rows_written = %(rows_written)s,
    error = coalesce(%(error)s, error), details = details || %(details)s::jsonb
WHERE id = %(id)s
"""

_ERROR = """
UPDATE ops.job_runs SET error = coalesce(error || E'\n', '') || %(error)s
WHERE idempotency_key = %(key)s
"""


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
        cur.execute(_START, {
            "job_type": job_type, "dag_id": dag_id, "run_id": run_id,
            "workspace_id": workspace_id, "key": key or run_key(dag_id, run_id, workspace_id),
            "run_type": run_type, "triggered_by": triggered_by,
            "period_start": period_start, "period_end": period_end,
        })
        return cur.fetchone()[0]


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
        cur.execute(_FINISH, {"id": job_id, "status": status, "rows_written": rows_written,
                              "error": error, "details": json.dumps(details or {}, default=str)})


def record_error(conn: Any, key: str, error: str) -> None:
    with transaction(conn) as cur:
        cur.execute(_ERROR, {"key": key, "error": error[:4000]})
