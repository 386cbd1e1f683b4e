"""The signal stages run together, with their ``ops.job_runs`` audit rows.

``daily_signal_aggregation`` calls the pieces as separate tasks (one mapped task per
workspace); :func:`run_daily` runs the same stages in one call for ``daily_rollup``
(granular mode) and the command line.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent_warehouse.db import audit, run_script
from agent_warehouse.signals import derive, ingest, score

if TYPE_CHECKING:
    from agent_warehouse.db import Connection

log = logging.getLogger(__name__)

DAG_ID = "daily_signal_aggregation"
JOB_TYPE = "daily_aggregation"
DAY = timedelta(days=1)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
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


def _finish(conn: Connection, job_id: int, *, status: str, day: date, inserted: int, scored: int, ranked: int,
            error: str | None, details: dict[str, Any]) -> None:
    start, end = day_bounds(day)
    run_script(conn, "signals/finish_job.sql", {
        "id": job_id, "status": status, "rows_written": scored + ranked, "error": error,
        "inserted": inserted, "companies_scored": scored, "ranked_count": ranked,
        "period_start": start, "period_end": end, "details": json.dumps(details, default=str)})


def claim_job(conn: Connection, *, dag_id: str, run_id: str, day: date, workspace_id: str | None = None,
              run_type: str | None = None, triggered_by: str | None = None) -> int:
    """The audit row of this run (and workspace, or the run-level row): the one created for
    its run id (by the internal API before it triggered the run, or by an earlier try) marked
    running, else a new one. Looked up by run id only: a run never touches another's row."""
    start, end = day_bounds(day)
    rows = run_script(conn, "signals/claim_job.sql", {"dag_id": dag_id, "run_id": run_id,
                                                      "workspace_id": workspace_id,
                                                      "period_start": start, "period_end": end})
    if rows:
        return rows[0][0]
    return audit.start_job(conn, job_type=JOB_TYPE, dag_id=dag_id, run_id=run_id, workspace_id=workspace_id,
                           run_type=run_type, triggered_by=triggered_by, period_start=start, period_end=end)


def start_run_job(conn: Connection, *, dag_id: str, run_id: str, day: date, run_type: str | None = None,
                  triggered_by: str | None = None) -> int:
    """The run-level audit row of a run over every workspace (the API's row when it started it)."""
    return claim_job(conn, dag_id=dag_id, run_id=run_id, day=day, run_type=run_type, triggered_by=triggered_by)


def finish_run_job(conn: Connection, job_id: int, *, day: date, inserted: int, results: list[dict[str, Any]],
                   error: str | None) -> None:
    _finish(conn, job_id, status="failed" if error else "success", day=day, inserted=inserted,
            scored=sum(r["companies_scored"] for r in results),
            ranked=sum(r["ranked_count"] for r in results), error=error,
            details={"workspaces": len(results)})


def fail_open_jobs(conn: Connection, *, dag_id: str, run_id: str, error: str) -> list[int]:
    """Mark this run's rows that no task closed as failed."""
    return [r[0] for r in run_script(conn, "signals/fail_open_jobs.sql", {
        "dag_id": dag_id, "run_id": run_id, "error": error})]


def score_workspace(conn: Connection, *, day: date, workspace_id: str, pack_id: str | None, inserted: int,
                    dag_id: str | None = None, run_id: str | None = None, run_type: str | None = None,
                    triggered_by: str | None = None) -> dict[str, Any]:
    """Score and rank one workspace for ``day``; with ``dag_id``/``run_id`` also its audit row
    (the one created for this run id and workspace, e.g. by the internal API, else a new one).

    The ranked list goes to the log (as a table) and is returned.
    """
    job_id = None
    if dag_id and run_id:
        job_id = claim_job(conn, dag_id=dag_id, run_id=run_id, day=day, workspace_id=workspace_id,
                           run_type=run_type, triggered_by=triggered_by)
    try:
        pack = score.resolve_pack(conn, workspace_id, pack_id)
        result = score.score_day(conn, day, workspace_id, pack)
        ranked = score.emerging(conn, day, workspace_id, pack)
    except Exception as exc:
        if job_id is not None:
            _finish(conn, job_id, status="failed", day=day, inserted=inserted, scored=0, ranked=0,
                    error=f"{exc}"[:2000], details={"pack_id": pack_id})
        raise
    log.info("emerging companies, workspace %s, pack %s, %s:\n%s", workspace_id, pack, day,
             score.format_table(ranked) if ranked else "(none)")
    if job_id is not None:
        _finish(conn, job_id, status="success", day=day, inserted=inserted,
                scored=result["companies_scored"], ranked=result["ranked_count"], error=None,
                details={"pack_id": pack})
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
