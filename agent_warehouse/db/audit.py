"""``ops.job_runs``: one audit row per job execution. The only module that reads or writes
the table (its SQL: ``include/sql/audit/``); docs/audit.md tells the whole lifecycle.

- queued: :func:`queue_job` (the internal API, before it triggers the run), and
  :func:`fail_unstarted_job` when that trigger fails and nobody can replay it;
- running: :func:`start_job` (a run's own row, reopened by a rerun) or :func:`claim_job`
  (a row created for the run id, e.g. by the internal API);
- success/failed: :func:`finish_job` (the teardown, a signal workspace's task),
  :func:`fail_open_jobs` (rows of a failed run no task closed), :func:`record_error`
  (a failed task's error, added to the row);
- closed by the next run: :func:`unclosed_rows` and :func:`close_abandoned`;
- following operator actions (the listener): :func:`follow_run_state`, :func:`reopen_cleared_run`.

:func:`run_identity` reads a DAG run's ``run_type`` and ``triggered_by`` for the row.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agent_warehouse.db import one_row, sql, transaction

if TYPE_CHECKING:
    from agent_warehouse.db import Connection

SIGNAL_JOB_TYPE = "daily_aggregation"  # the job type of daily_signal_aggregation's rows


def run_key(dag_id: str, run_id: str, workspace_id: str | None = None) -> str:
    """Idempotency key of a DAG run's audit row (a rerun reuses its row)."""
    return f"{dag_id}/{run_id}" + (f"/{workspace_id}" if workspace_id else "")


def run_identity(dag_run: Any) -> tuple[str, str | None]:
    """(run_type, triggered_by) of an Airflow DAG run, as the audit row records them."""
    return str(getattr(dag_run.run_type, "value", dag_run.run_type)), getattr(dag_run, "triggering_user_name", None)


def _changed(conn: Connection, name: str, params: dict[str, Any]) -> list[int]:
    """Run one audit statement that returns the ids of the rows it changed."""
    with transaction(conn) as cur:
        cur.execute(sql(name), params)
        return [r[0] for r in cur.fetchall()]


def start_job(
    conn: Connection,
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
    """Open (or, for a rerun of the same run, reopen) a row; returns its id."""
    with transaction(conn) as cur:
        cur.execute(sql("audit/start_job.sql"), {
            "job_type": job_type, "dag_id": dag_id, "run_id": run_id,
            "workspace_id": workspace_id, "key": key or run_key(dag_id, run_id, workspace_id),
            "run_type": run_type, "triggered_by": triggered_by,
            "period_start": period_start, "period_end": period_end,
        })
        return int(one_row(cur)[0])


def claim_job(conn: Connection, *, dag_id: str, run_id: str, period_start: datetime, period_end: datetime,
              workspace_id: str | None = None, run_type: str | None = None,
              triggered_by: str | None = None) -> int:
    """The signal row of this run (and workspace, or the run-level row): the one created for
    its run id (by the internal API before it triggered the run, or by an earlier try) marked
    running, else a new one. Looked up by run id only: a run never touches another's row."""
    claimed = _changed(conn, "audit/claim_job.sql", {"dag_id": dag_id, "run_id": run_id,
                                                     "workspace_id": workspace_id,
                                                     "period_start": period_start, "period_end": period_end})
    if claimed:
        return claimed[0]
    return start_job(conn, job_type=SIGNAL_JOB_TYPE, dag_id=dag_id, run_id=run_id, workspace_id=workspace_id,
                     run_type=run_type, triggered_by=triggered_by, period_start=period_start, period_end=period_end)


def finish_job(
    conn: Connection,
    job_id: int,
    *,
    status: str,
    rows_written: int = 0,
    error: str | None = None,
    details: dict[str, Any] | None = None,
    signals: dict[str, int] | None = None,
    period: tuple[datetime, datetime] | None = None,
) -> None:
    """Close a row with its status; ``signals`` (``inserted``, ``companies_scored``,
    ``ranked_count``) and ``period`` only for the signal rows that have them."""
    figures = signals or {}
    with transaction(conn) as cur:
        cur.execute(sql("audit/finish_job.sql"), {
            "id": job_id, "status": status, "rows_written": rows_written, "error": error,
            "details": json.dumps(details or {}, default=str),
            "inserted": figures.get("inserted"), "companies_scored": figures.get("companies_scored"),
            "ranked_count": figures.get("ranked_count"),
            "period_start": period[0] if period else None, "period_end": period[1] if period else None})


def fail_open_jobs(conn: Connection, *, dag_id: str, run_id: str, error: str) -> list[int]:
    """Mark this run's rows that no task closed as failed."""
    return _changed(conn, "audit/fail_open_jobs.sql", {"dag_id": dag_id, "run_id": run_id, "error": error})


def rows_written(conn: Connection) -> int:
    """Rollup rows this connection's session inserted, updated or deleted in committed
    transactions so far; a task reads it once, before closing its connection."""
    with transaction(conn) as cur:
        cur.execute(sql("audit/rows_written.sql"))
        return int(one_row(cur)[0])


def record_error(conn: Connection, key: str, error: str) -> None:
    with transaction(conn) as cur:
        cur.execute(sql("audit/record_error.sql"), {"key": key, "error": error[:4000]})


# ---------------------------------------------------------------- closed by the next run
def unclosed_rows(conn: Connection, *, dag_id: str, run_id: str) -> list[tuple[int, str]]:
    """(id, run_id) of the rows other runs of the DAG left open, newest first."""
    with transaction(conn) as cur:
        cur.execute(sql("audit/unclosed_rows.sql"), {"dag_id": dag_id, "run_id": run_id})
        return [(int(r[0]), str(r[1])) for r in cur.fetchall()]


def close_abandoned(conn: Connection, job_id: int, *, status: str, closed_by: str) -> None:
    """Close a row its teardown left open with the state Airflow gave its run."""
    with transaction(conn) as cur:
        cur.execute(sql("audit/close_abandoned.sql"), {"id": job_id, "status": status, "closed_by": closed_by})


# ---------------------------------------------------------------- following operator actions
def follow_run_state(conn: Connection, *, dag_id: str, run_id: str, status: str, note: str) -> list[int]:
    """The run's rows take the state Airflow gave the run; returns the ids changed."""
    return _changed(conn, "audit/follow_run_state.sql",
                    {"dag_id": dag_id, "run_id": run_id, "status": status, "note": note})


def reopen_cleared_run(conn: Connection, *, dag_id: str, run_id: str) -> list[int]:
    """A cleared run running again: its finished rows are running again; returns their ids."""
    return _changed(conn, "audit/reopen_cleared_run.sql", {"dag_id": dag_id, "run_id": run_id})


# ---------------------------------------------------------------- the internal API's rows
def queue_job(conn: Connection, *, dag_id: str, run_id: str, key: str, workspace_id: str | None,
              details: dict[str, Any]) -> int | None:
    """The queued signal row of a run about to be triggered; None when the key was used before."""
    created = _changed(conn, "audit/queue_job.sql", {"dag_id": dag_id, "run_id": run_id, "key": key,
                                                     "workspace_id": workspace_id,
                                                     "details": json.dumps(details)})
    return created[0] if created else None


def job_by_key(conn: Connection, key: str) -> tuple[Any, ...]:
    """The row of an idempotency key: (id, status, inserted, companies_scored, ranked_count,
    error, run_id, workspace_id, pack_id, day, conf)."""
    with transaction(conn) as cur:
        cur.execute(sql("audit/job_by_key.sql"), {"key": key})
        return one_row(cur)


def job_by_id(conn: Connection, job_id: int) -> tuple[Any, ...] | None:
    """(id, status, inserted, companies_scored, ranked_count, error) of a signal row, or None."""
    with transaction(conn) as cur:
        cur.execute(sql("audit/job_by_id.sql"), {"id": job_id})
        return cur.fetchone()


def fail_unstarted_job(conn: Connection, job_id: int, error: str) -> None:
    """A queued row whose run could not be triggered and that no client can replay."""
    with transaction(conn) as cur:
        cur.execute(sql("audit/fail_unstarted_job.sql"), {"id": job_id, "error": error})
