"""Daily and weekly rollups from the hourly partials, each period in its own transaction.

A period is rolled up only after every hour (for weeks: every day) it reads is current:
changed hours named in the raw invalidation log are re-rolled, hours never rolled up are
rolled up, and days or weeks whose inputs changed since they were computed are recomputed
(the ``ops.rollup_invalidations`` log: days filled by triggers on the hourly tables, weeks
by triggers on the daily tables, each in the transaction that changes the input).
So a run is exact on its own, and late data for earlier periods is repaired by the next
run at a cost that grows with what changed.

Daily and weekly rows are kept for ever. A day whose hourly partials were deleted by
retention, and a rolled-up week whose days all were, is past retention: its rollup script
keeps its rows as they are and says so (docs/retention.md), whatever run asks for it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from agent_warehouse.db import sql, transaction
from agent_warehouse.reports.log_lines import summarised
from agent_warehouse.rollups import hourly

DAY = timedelta(days=1)
WEEK = timedelta(days=7)


def utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def as_date(value: Any) -> date:
    """A period start (datetime, pendulum DateTime, date or ISO string) as its UTC date."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).date()
    return value


def bring_hours_up_to_date(conn: Any, start: datetime, end: datetime) -> dict[str, list[str]]:
    """Re-roll every changed hour before ``end`` and roll up the hours of [start, end) never
    rolled up; each hour is one transaction (``rollup_hour.sql``)."""
    repaired = hourly.repair(conn, before=end)
    with transaction(conn) as cur:
        cur.execute(sql("periods/missing_hours.sql"), {"start": start, "end": end})
        missing = [row[0] for row in cur.fetchall()]
    rolled = [hourly.rollup_hour(conn, h) for h in missing]
    return {"hours_repaired": [r["hour"] for r in repaired],
            "hours_rolled_up": [r["hour"] for r in rolled]}


def stale_periods(conn: Any, grain: str, start: date, end: date) -> list[date]:
    step = "1 day" if grain == "day" else "7 days"
    with transaction(conn) as cur:
        cur.execute(sql("periods/stale_periods.sql"), {"grain": grain, "start": start, "end": end, "step": step})
        return [row[0] for row in cur.fetchall()]


def rollup_day(conn: Any, day: date) -> dict[str, Any]:
    """Recompute every daily table for ``day`` in one transaction (or keep it, ``kept``,
    when it is past retention)."""
    start = utc_midnight(day)
    ((d, metric_rows, user_rows),), kept = hourly.run_guarded(
        conn, "daily/rollup_day.sql", {"day": day, "start": start, "end": start + DAY})
    return {"day": d, "metric_rows": metric_rows, "user_rows": user_rows, "kept": kept is not None}


def rollup_week(conn: Any, week_start: date) -> dict[str, Any]:
    """Recompute every weekly table for the ISO week starting ``week_start`` in one
    transaction (or keep it, ``kept``, when it is past retention)."""
    if week_start.isoweekday() != 1:
        raise ValueError(f"a week starts on a Monday, not {week_start}")
    ((w, metric_rows, activity_rows),), kept = hourly.run_guarded(
        conn, "weekly/rollup_week.sql", {"week": week_start})
    return {"week_start": w, "metric_rows": metric_rows, "activity_rows": activity_rows,
            "kept": kept is not None}


def bring_days_up_to_date(conn: Any, first: date, end: date) -> dict[str, Any]:
    """Hours of [first, end) current, then every stale day before ``end`` recomputed."""
    hours = bring_hours_up_to_date(conn, utc_midnight(first), utc_midnight(end))
    days = stale_periods(conn, "day", first, end)
    return {**hours, "days": [rollup_day(conn, d) for d in days]}


@summarised("day")
def daily(conn: Any, day: date) -> dict[str, Any]:
    """The daily run: ``day`` and every earlier day whose partials changed."""
    out = bring_days_up_to_date(conn, day, day + DAY)
    if not any(r["day"] == day.isoformat() for r in out["days"]):
        out["days"].append(rollup_day(conn, day))  # its own day always, even if unchanged
    return out


@summarised("week")
def weekly(conn: Any, week_start: date) -> dict[str, Any]:
    """The weekly run: its week and every earlier week whose partials changed, after every
    day they read is current."""
    end = week_start + WEEK
    out = bring_days_up_to_date(conn, week_start, end)
    weeks = sorted(set(stale_periods(conn, "week", week_start, end)) | {week_start})
    return {**out, "weeks": [rollup_week(conn, w) for w in weeks]}
