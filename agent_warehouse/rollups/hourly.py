"""The incremental hourly rollup: one hour at a time, each in its own transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from agent_warehouse.db import sql, transaction
from agent_warehouse.reports.log_lines import summarised
from agent_warehouse.rollups import run_guarded

if TYPE_CHECKING:
    from agent_warehouse.db import Connection

HOUR = timedelta(hours=1)
log = logging.getLogger(__name__)


def rollup_hour(conn: Connection, start: datetime) -> dict[str, Any]:
    """Recompute every hourly table for ``[start, start + 1h)`` in one transaction; an hour
    whose raw rows were dropped by retention is kept as it is (``kept``).

    ``metric_rows`` and ``user_rows`` are the rows written (inserted, updated or deleted) in
    execution_metrics_hourly and user_activity_hourly, 0 for an unchanged rerun; ``bad_rows``
    the hour's raw rows left out as bad."""
    rows, kept = run_guarded(conn, "hourly/rollup_hour.sql", {"start": start, "end": start + HOUR})
    hour, metric_rows, user_rows, bad_rows = rows[0][:4]  # then rows_written: the session's count
    return {"hour": hour, "metric_rows": metric_rows, "user_rows": user_rows,
            "bad_rows": int(bad_rows), "kept": kept is not None}


def dirty_hours(conn: Connection, before: datetime) -> list[datetime]:
    """Hours before ``before`` named in the invalidation log."""
    with transaction(conn) as cur:
        cur.execute(sql("hourly/dirty_hours.sql"), {"before": before})
        return [row[0] for row in cur.fetchall()]


class PeriodsFailed(RuntimeError):
    """Some periods could not be rolled up; every other period was. ``failed`` maps each
    failed period (``hour 2026-01-05T07:00:00Z``, ``day 2026-01-05``) to its error, ``done``
    holds the results of the periods that succeeded."""

    def __init__(self, failed: dict[str, str], done: Any = None) -> None:
        self.failed = dict(failed)
        self.done = done
        named = "; ".join(f"{period}: {error}" for period, error in self.failed.items())
        super().__init__(f"{len(self.failed)} period(s) failed, the others were rolled up: {named}")


def hour_name(hour: datetime) -> str:
    return f"hour {hour.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"


def attempt(failed: dict[str, str], period: str, work: Callable[[], Any]) -> Any:
    """``work()``, or None with its error kept under ``period`` in ``failed``: one period that
    fails (its transaction rolled back) never stops the periods after it."""
    try:
        return work()
    except Exception as exc:  # any error of one period; the caller raises PeriodsFailed at the end
        log.exception("%s failed; going on with the other periods", period)
        failed[period] = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
        return None


@summarised("repair")
def repair(conn: Connection, before: datetime, failed: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Re-roll every changed hour before ``before``; cost grows with the hours changed.

    An hour that fails does not stop the others: each is tried, and then :class:`PeriodsFailed`
    names the hours that failed (they stay in the invalidation log for the next run). With
    ``failed`` given, failures are added to it instead and the caller decides."""
    own = failed is None
    failed = {} if failed is None else failed
    done = []
    for hour in dirty_hours(conn, before):
        result = attempt(failed, hour_name(hour), partial(rollup_hour, conn, hour))
        if result is not None:
            done.append(result)
    if own and failed:
        raise PeriodsFailed(failed, done)
    return done
