"""Reconciliation on what changed: after a run wrote its periods, each is compared with its
source in one snapshot, by queries that read the source another way than the rollup did
(``include/sql/checks/{hour,day,week}.sql``: one statement, at most one scan of the period).

hour: raw rows = accepted rows (execution_metrics_hourly) + rejected rows
      (rejected_runs_hourly) per workspace, and statuses, credits and runtimes agree;
day:  the daily row = the sum of its hourly rows, and (while raw rows are kept) each hour's
      rows against the raw rows, summed per hour, so a wrong hour is caught by the daily run
      (an hour that differs is then checked per workspace, to name them);
week: the weekly row = the sum of its daily rows.

A mismatch is recorded in ``ops.reconciliation_incidents``, the period is re-rolled from its
source (a wrong hour of a day: that hour, then the day), and checked again. Only when the
second check also finds a difference does the run fail, with a message naming the period,
the table, what differed and where to look.
"""

from __future__ import annotations

import json
import logging
import time as clock
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent_warehouse.db import one_row, sql, transaction
from agent_warehouse.rollups import utc_midnight

if TYPE_CHECKING:
    from agent_warehouse.db import Connection

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
DETAILS_KEPT = 20  # differences stored per incident; the count keeps the rest


@dataclass(frozen=True)
class Difference:
    grain: str
    period: datetime
    table_name: str
    workspace_id: str | None
    column_name: str
    rollup_value: str | None
    source_value: str | None

    def line(self) -> str:
        ws = str(self.workspace_id)[:8] if self.workspace_id else "?"
        return f"{self.column_name} {self.rollup_value} in the rollup, {self.source_value} in the source (workspace {ws})"


class ReconciliationError(RuntimeError):
    """A period still differs from its source after it was re-rolled."""


def _fetch(conn: Connection, name: str, params: dict[str, Any]) -> list[Difference]:
    """One check query: one statement, so one snapshot of the period and its source."""
    with transaction(conn) as cur:
        cur.execute(sql(name), params)
        rows = cur.fetchall()
    if name == "checks/hour.sql":  # table, workspace, column, rollup, source
        return [Difference("hour", params["start"], r[0], r[1], r[2], r[3], r[4]) for r in rows]
    return [Difference(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]


def check_hour(conn: Connection, hour: datetime) -> list[Difference]:
    return _fetch(conn, "checks/hour.sql", {"start": hour, "end": hour + HOUR})


def check_day(conn: Connection, day: date, raw: bool | None = None) -> list[Difference]:
    """The day against its hourly rows and, unless ``raw`` is False (default: the setting
    ``AGENT_WAREHOUSE_RECONCILE_DAY_RAW``), its hourly rows against the raw rows."""
    from agent_warehouse.checks.settings import reconcile_settings

    start = utc_midnight(day)
    raw = reconcile_settings().day_raw if raw is None else raw
    found = _fetch(conn, "checks/day.sql", {"day": day, "start": start, "end": start + DAY, "raw": raw})
    # The raw pass compares whole hours (24 groups: cheap); an hour that differs is checked
    # again on its own, per workspace, to say which workspaces and values (hour.sql).
    wrong_hours = sorted({d.period for d in found if d.grain == "hour"})
    detailed = {h: check_hour(conn, h) for h in wrong_hours}
    return ([d for d in found if d.grain != "hour" or not detailed[d.period]]
            + [d for h in wrong_hours for d in detailed[h]])


def check_week(conn: Connection, week_start: date) -> list[Difference]:
    return _fetch(conn, "checks/week.sql", {"week": week_start})


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return utc_midnight(value)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) and not isinstance(value, datetime) else _as_datetime(value).date()


def _summary(diffs: list[Difference]) -> str:
    workspaces = {d.workspace_id for d in diffs}
    columns = sorted({d.column_name for d in diffs})
    return (f"{len(diffs)} difference(s) in {len(workspaces)} workspace(s), columns {', '.join(columns)}; "
            f"first: {diffs[0].line()}")


def _record(conn: Connection, diffs: list[Difference], dag_id: str | None, run_id: str | None) -> list[int]:
    """One incident per (grain, period, table); returns their ids."""
    groups: dict[tuple[str, datetime, str], list[Difference]] = defaultdict(list)
    for d in diffs:
        groups[(d.grain, d.period, d.table_name)].append(d)
    ids = []
    with transaction(conn) as cur:
        for (grain, period, table), found in groups.items():
            details = [{"workspace_id": str(d.workspace_id) if d.workspace_id else None, "column": d.column_name,
                        "rollup": d.rollup_value, "source": d.source_value} for d in found[:DETAILS_KEPT]]
            cur.execute(sql("checks/record_incident.sql"), {
                "grain": grain, "period": period, "table_name": table, "what_differed": _summary(found),
                "details": json.dumps(details), "mismatches": len(found), "dag_id": dag_id, "run_id": run_id})
            ids.append(one_row(cur)[0])
    return ids


def _close(conn: Connection, ids: list[int], outcome: str) -> None:
    with transaction(conn) as cur:
        cur.execute(sql("checks/close_incidents.sql"), {"ids": ids, "outcome": outcome})


def _reroll(conn: Connection, grain: str, period: datetime, hours: list[datetime]) -> None:
    """Recompute the period from its source: the named hours first, then the period."""
    from agent_warehouse.rollups import hourly, periods

    for h in sorted(set(hours)):
        hourly.rollup_hour(conn, h)
    if grain == "day":
        periods.rollup_day(conn, period.date())
    elif grain == "week":
        periods.rollup_week(conn, period.date())


def _check(conn: Connection, grain: str, period: datetime) -> list[Difference]:
    if grain == "hour":
        return check_hour(conn, period)
    if grain == "day":
        return check_day(conn, period.date())
    return check_week(conn, period.date())


def reconcile(conn: Connection, hours: list[Any] = (), days: list[Any] = (), weeks: list[Any] = (),  # type: ignore[assignment]
              dag_id: str | None = None, run_id: str | None = None) -> dict[str, Any]:
    """Check every period the run wrote; record, re-roll and check again what differs.

    Hours inside a checked day are covered by the day's check (its raw part), so they are
    not scanned twice. Raises :class:`ReconciliationError` naming every period still wrong.
    Returns what was checked, the incidents and the time the checks took.
    """
    day_set = sorted({_as_date(d) for d in days})
    covered = set(day_set)
    hour_set = sorted({h for h in map(_as_datetime, hours) if h.date() not in covered})
    week_set = sorted({_as_date(w) for w in weeks})
    periods = ([("hour", h) for h in hour_set] + [("day", utc_midnight(d)) for d in day_set]
               + [("week", utc_midnight(w)) for w in week_set])
    started = clock.perf_counter()
    checking = 0.0
    incidents: list[int] = []
    still_wrong: list[tuple[str, datetime, list[Difference], list[int]]] = []
    for grain, period in periods:
        t0 = clock.perf_counter()
        diffs = _check(conn, grain, period)
        checking += clock.perf_counter() - t0
        if not diffs:
            continue
        ids = _record(conn, diffs, dag_id, run_id)
        incidents += ids
        log.warning("reconciliation: %s %s differs from its source: %s; re-rolling it",
                    grain, period.isoformat(), _summary(diffs))
        _reroll(conn, grain, period, [d.period for d in diffs if d.grain == "hour"]
                + ([period] if grain == "hour" else []))
        t0 = clock.perf_counter()
        again = _check(conn, grain, period)
        checking += clock.perf_counter() - t0
        _close(conn, ids, "still_wrong" if again else "repaired")
        if again:
            still_wrong.append((grain, period, again, ids))
        else:
            log.info("reconciliation: %s %s re-rolled, exact again (incidents %s)", grain, period.isoformat(), ids)
    out = {"hours_checked": len(hour_set), "days_checked": len(day_set), "weeks_checked": len(week_set),
           "incidents": incidents, "check_seconds": round(checking, 3),
           "seconds": round(clock.perf_counter() - started, 3)}
    if still_wrong:
        raise ReconciliationError(_failure_message(still_wrong))
    return out


def _failure_message(still_wrong: list[tuple[str, datetime, list[Difference], list[int]]]) -> str:
    parts = []
    for grain, period, diffs, ids in still_wrong:
        tables = sorted({d.table_name for d in diffs})
        parts.append(f"{grain} {period.isoformat()} of {', '.join(tables)} still differs from its source after "
                     f"a re-roll: {_summary(diffs)} (ops.reconciliation_incidents id {', '.join(map(str, ids))})")
    return ("reconciliation failed: " + "; ".join(parts) + ". Re-rolling did not fix it, so something rewrites "
            "these rows or the rollup computes them wrongly: look for triggers, rules or other writers on the "
            "tables named (\\dS+ in psql), recent changes to include/sql/{hourly,daily,weekly}/ and to "
            "ops.agent_run_usable/ops.agent_run_defect, then rerun this period.")
