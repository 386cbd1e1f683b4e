"""The incremental hourly rollup: one hour at a time, each in its own transaction."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from agent_warehouse.db import run_script_results, sql, transaction
from agent_warehouse.reports.log_lines import summarised

HOUR = timedelta(hours=1)
log = logging.getLogger(__name__)


def run_guarded(conn: Any, name: str, params: dict[str, Any]) -> tuple[list[tuple], str | None]:
    """Run a rollup script (hour, day or week) in one transaction (``db.run_script``).

    Returns its last result and, when the period is past retention, the message of its
    guard (the ``past_retention`` column; the script then changed nothing), logged here.
    """
    results = run_script_results(conn, name, params)
    kept = next((rows[0][0] for columns, rows in results if columns[:1] == ("past_retention",)), None)
    if kept:
        log.info("%s", kept)
    return results[-1][1], kept


def rollup_hour(conn: Any, start: datetime) -> dict[str, Any]:
    """Recompute every hourly table for ``[start, start + 1h)`` in one transaction; an hour
    whose raw rows were dropped by retention is kept as it is (``kept``).

    ``metric_rows`` and ``user_rows`` are the rows written (inserted, updated or deleted) in
    execution_metrics_hourly and user_activity_hourly, 0 for an unchanged rerun; ``bad_rows``
    the hour's raw rows left out as bad."""
    rows, kept = run_guarded(conn, "hourly/rollup_hour.sql", {"start": start, "end": start + HOUR})
    hour, metric_rows, user_rows, bad_rows = rows[0][:4]  # then rows_written: the session's count
    return {"hour": hour, "metric_rows": metric_rows, "user_rows": user_rows,
            "bad_rows": int(bad_rows), "kept": kept is not None}


def dirty_hours(conn: Any, before: datetime) -> list[datetime]:
    """Hours before ``before`` named in the invalidation log."""
    with transaction(conn) as cur:
        cur.execute(sql("hourly/dirty_hours.sql"), {"before": before})
        return [row[0] for row in cur.fetchall()]


@summarised("repair")
def repair(conn: Any, before: datetime) -> list[dict[str, Any]]:
    """Re-roll every changed hour before ``before``; cost grows with the hours changed."""
    return [rollup_hour(conn, hour) for hour in dirty_hours(conn, before)]
