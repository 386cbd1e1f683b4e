"""The signal stages run together, with their ``ops.job_runs`` audit rows.

``daily_signal_aggregation`` calls the pieces as separate tasks (one mapped task per
workspace); :func:`run_daily` runs the same stages in one call for ``daily_rollup``
(granular mode) and the command line.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent_warehouse.db import audit
from agent_warehouse.rollups import utc_midnight
from agent_warehouse.signals import derive, ingest, score

if TYPE_CHECKING:
    from agent_warehouse.db import Connection

log = logging.getLogger(__name__)

DAY = timedelta(days=1)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC day ``[00:00, next 00:00)`` as datetimes."""
    start = utc_midnight(day)
    return start, start + DAY


def ingest_day(conn: Connection, day: date) -> dict[str, Any]:
    """Every configured provider for the UTC day; provider failures are recorded, not raised."""
    start, end = day_bounds(day)
    return ingest.ingest(conn, start, end)


def ingest_hour(conn: Connection, hour: datetime) -> dict[str, Any]:
    """The hourly (granular) ingest: every provider for ``[hour, hour + 1h)``."""
    return ingest.ingest(conn, hour, hour + timedelta(hours=1))


def targets(conn: Connection, workspace_id: str | None, pack_id: str | None) -> list[str]:
    """The workspaces a run scores; checks the workspace and the pack first (errors name them)."""
    if workspace_id is not None:
        workspace_id = score.parse_workspace(workspace_id)
        score.resolve_pack(conn, workspace_id, pack_id)
        return [workspace_id]
    if pack_id is not None:
        score.resolve_pack(conn, None, pack_id)
    return score.known_workspaces(conn)


def score_workspace(conn: Connection, *, day: date, workspace_id: str, pack_id: str | None, inserted: int,
                    dag_id: str | None = None, run_id: str | None = None, run_type: str | None = None,
                    triggered_by: str | None = None) -> dict[str, Any]:
    """Score and rank one workspace for ``day``; with ``dag_id``/``run_id`` also its audit row
    (the one created for this run id and workspace, e.g. by the internal API, else a new one).

    The ranked list goes to the log (as a table) and is returned.
    """
    period = day_bounds(day)
    job_id = None
    if dag_id and run_id:
        job_id = audit.claim_job(conn, dag_id=dag_id, run_id=run_id, period_start=period[0], period_end=period[1],
                                 workspace_id=workspace_id, run_type=run_type, triggered_by=triggered_by)
    try:
        pack = score.resolve_pack(conn, workspace_id, pack_id)
        result = score.score_day(conn, day, workspace_id, pack)
        ranked = score.emerging(conn, day, workspace_id, pack)
    except Exception as exc:
        if job_id is not None:
            audit.finish_job(conn, job_id, status="failed", error=f"{exc}"[:2000], details={"pack_id": pack_id},
                             signals={"inserted": inserted, "companies_scored": 0, "ranked_count": 0},
                             period=period)
        raise
    log.info("emerging companies, workspace %s, pack %s, %s:\n%s", workspace_id, pack, day,
             score.format_table(ranked) if ranked else "(none)")
    if job_id is not None:
        figures = {"inserted": inserted, "companies_scored": result["companies_scored"],
                   "ranked_count": result["ranked_count"]}
        audit.finish_job(conn, job_id, status="success", rows_written=figures["companies_scored"] + figures["ranked_count"],
                         details={"pack_id": pack}, signals=figures, period=period)
    return {**result, "inserted": inserted, "job_run_id": job_id, "ranked": ranked}


def run_daily(conn: Connection, day: date, workspace_id: str | None = None, pack_id: str | None = None,
              *, ingest_first: bool = True, dag_id: str | None = None,
              run_id: str | None = None) -> dict[str, Any]:
    """Ingest (unless ``ingest_first=False``), derive and score+rank ``day`` for one workspace
    or every known one. With ``dag_id``/``run_id`` each workspace gets its audit row.

    Returns ``{"day", "inserted", "providers", "derived", "workspaces": [score results]}``.
    Idempotent: a rerun of a day changes no stored row.
    """
    plan = targets(conn, workspace_id, pack_id)
    report: dict[str, Any] = ingest_day(conn, day) if ingest_first else {"inserted": 0, "providers": {}}
    derived = derive.derive_day(conn, day)
    results = [score_workspace(conn, day=day, workspace_id=ws, pack_id=pack_id, inserted=int(report["inserted"]),
                               dag_id=dag_id, run_id=run_id) for ws in plan]
    return {"day": day.isoformat(), "inserted": report["inserted"], "providers": report["providers"],
            "derived": derived, "workspaces": results}


def print_top_emerging(conn: Connection, day: date, workspace_id: str, pack_id: str | None = None,
                       limit: int = 10) -> list[dict[str, Any]]:
    """Print the stored top ``limit`` emerging companies of a workspace (the demo calls this)."""
    pack = score.resolve_pack(conn, workspace_id, pack_id)
    ranked = score.emerging(conn, day, workspace_id, pack, limit=limit)
    print(f"Top emerging companies on {day} (workspace {workspace_id}, pack {pack}):\n")
    print(score.format_table(ranked) if ranked else "(none: run the aggregation for that day first)")
    return ranked
