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

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from agent_warehouse.db import sql, transaction
from agent_warehouse.reports.log_lines import summarised
from agent_warehouse.rollups import hourly, run_guarded, utc_midnight

if TYPE_CHECKING:
    from agent_warehouse.db import Connection

DAY = timedelta(days=1)
WEEK = timedelta(days=7)


def as_date(value: Any) -> date:
    """A period start (datetime, pendulum DateTime, date or ISO string) as its UTC date."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).date()
    return value


def bring_hours_up_to_date(conn: Connection, start: datetime, end: datetime,
                           failed: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Re-roll every changed hour before ``end`` and roll up the hours of [start, end) never
    rolled up; each hour is one transaction (``rollup_hour.sql``).

    An hour that fails does not stop the others; the failures are added to ``failed``, or,
    without it, raised at the end as :class:`hourly.PeriodsFailed` naming them."""
    own = failed is None
    failed = {} if failed is None else failed
    repaired = hourly.repair(conn, before=end, failed=failed)
    with transaction(conn) as cur:
        cur.execute(sql("periods/missing_hours.sql"), {"start": start, "end": end})
        missing = [row[0] for row in cur.fetchall()]
    rolled = [hourly.attempt(failed, hourly.hour_name(h), partial(hourly.rollup_hour, conn, h))
              for h in missing]
    out = {"hours_repaired": [r["hour"] for r in repaired],
           "hours_rolled_up": [r["hour"] for r in rolled if r is not None]}
    if own and failed:
        raise hourly.PeriodsFailed(failed, out)
    return out


def failed_inputs(failed: dict[str, str], first: date, end: date) -> list[str]:
    """The failed hours and days (keys of ``failed``) that fall in [first, end): a period
    reading them would be computed from stale inputs, so it waits for the next run."""
    out = []
    for period in failed:
        grain, _, when = period.partition(" ")
        if grain in ("hour", "day") and first <= date.fromisoformat(when[:10]) < end:
            out.append(period)
    return out


def rollup_or_wait(failed: dict[str, str], grain: str, start: date, length: timedelta,
                   work: Callable[[], Any]) -> Any:
    """``work()`` for the period ``grain start``, unless one of its inputs failed in this run:
    then the period is named as failed too (its invalidation stays for the next run)."""
    period = f"{grain} {start.isoformat()}"
    stale = failed_inputs(failed, start, start + length)
    if stale:
        failed[period] = f"not rolled up: its inputs failed ({', '.join(stale)})"
        return None
    return hourly.attempt(failed, period, work)


def stale_periods(conn: Connection, grain: str, start: date, end: date) -> list[date]:
    step = "1 day" if grain == "day" else "7 days"
    with transaction(conn) as cur:
        cur.execute(sql("periods/stale_periods.sql"), {"grain": grain, "start": start, "end": end, "step": step})
        return [row[0] for row in cur.fetchall()]


def rollup_day(conn: Connection, day: date) -> dict[str, Any]:
    """Recompute every daily table for ``day`` in one transaction (or keep it, ``kept``,
    when it is past retention)."""
    start = utc_midnight(day)
    ((d, metric_rows, user_rows),), kept = run_guarded(
        conn, "daily/rollup_day.sql", {"day": day, "start": start, "end": start + DAY})
    return {"day": d, "metric_rows": metric_rows, "user_rows": user_rows, "kept": kept is not None}


def rollup_week(conn: Connection, week_start: date) -> dict[str, Any]:
    """Recompute every weekly table for the ISO week starting ``week_start`` in one
    transaction (or keep it, ``kept``, when it is past retention)."""
    if week_start.isoweekday() != 1:
        raise ValueError(f"a week starts on a Monday, not {week_start}")
    ((w, metric_rows, activity_rows),), kept = run_guarded(
        conn, "weekly/rollup_week.sql", {"week": week_start})
    return {"week_start": w, "metric_rows": metric_rows, "activity_rows": activity_rows,
            "kept": kept is not None}


def bring_days_up_to_date(conn: Connection, first: date, end: date,
                          failed: dict[str, str] | None = None) -> dict[str, Any]:
    """Hours of [first, end) current, then every stale day before ``end`` recomputed.

    A period that fails never stops the others: every hour and day is tried (a day whose
    hours failed waits), then :class:`hourly.PeriodsFailed` names the failures (or, with
    ``failed`` given, they are added to it)."""
    own = failed is None
    failed = {} if failed is None else failed
    hours = bring_hours_up_to_date(conn, utc_midnight(first), utc_midnight(end), failed)
    days = [rollup_or_wait(failed, "day", d, DAY, partial(rollup_day, conn, d))
            for d in stale_periods(conn, "day", first, end)]
    out = {**hours, "days": [d for d in days if d is not None]}
    if own and failed:
        raise hourly.PeriodsFailed(failed, out)
    return out


@summarised("day")
def daily(conn: Connection, day: date) -> dict[str, Any]:
    """The daily run: ``day`` and every earlier day whose partials changed. A period that
    fails is named at the end (:class:`hourly.PeriodsFailed`) after all the others ran."""
    failed: dict[str, str] = {}
    out = bring_days_up_to_date(conn, day, day + DAY, failed)
    if not any(r["day"] == day.isoformat() for r in out["days"]) and f"day {day.isoformat()}" not in failed:
        own = rollup_or_wait(failed, "day", day, DAY, lambda: rollup_day(conn, day))  # even if unchanged
        if own is not None:
            out["days"].append(own)
    if failed:
        raise hourly.PeriodsFailed(failed, out)
    return out


@summarised("week")
def weekly(conn: Connection, week_start: date) -> dict[str, Any]:
    """The weekly run: its week and every earlier week whose partials changed, after every
    day they read is current. A period that fails is named at the end, after the others."""
    failed: dict[str, str] = {}
    end = week_start + WEEK
    out = bring_days_up_to_date(conn, week_start, end, failed)
    weeks = sorted(set(stale_periods(conn, "week", week_start, end)) | {week_start})
    done = [rollup_or_wait(failed, "week", w, WEEK, partial(rollup_week, conn, w)) for w in weeks]
    out = {**out, "weeks": [w for w in done if w is not None]}
    if failed:
        raise hourly.PeriodsFailed(failed, out)
    return out
