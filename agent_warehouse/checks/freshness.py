"""How fresh the rollups are: ``ops.rollup_freshness`` (migration 0025) read for people.

One row per rollup table: the newest complete period rolled up, the periods waiting in the
invalidation logs (late, changed or deleted rows not yet rolled up) and the lag, now minus
the end of the newest period rolled up. Shown on the Freshness page beside the reports
(``web/reports_app.py``) and named by every deadline miss (``freshness_summary``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent_warehouse.db import sql, transaction

if TYPE_CHECKING:
    from agent_warehouse.db import Connection

GRAINS = ("hour", "day", "week")


def freshness(conn: Connection) -> list[dict[str, Any]]:
    """The rows of ``ops.rollup_freshness``."""
    with transaction(conn) as cur:
        cur.execute(sql("checks/freshness.sql"))
        names = [c.name for c in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def human_lag(lag: timedelta | None) -> str:
    """``2h05m``, ``3d4h``, ``never rolled up`` for a grain with nothing rolled up."""
    if lag is None:
        return "never rolled up"
    seconds = int(lag.total_seconds())
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    return sign + (f"{days}d{hours}h" if days else f"{hours}h{rest // 60:02d}m")


def _stamp(value: datetime | None) -> str:
    return "none" if value is None else value.strftime("%Y-%m-%dT%H:%MZ")


def summarize(rows: list[dict[str, Any]]) -> str:
    """One line per warehouse, per grain (the tables of a grain move together)."""
    parts = []
    for grain in GRAINS:
        row = next((r for r in rows if r["grain"] == grain), None)
        if row is None:
            continue
        pending = (f"{row['pending_periods']} pending from {_stamp(row['oldest_pending'])}"
                   if row["pending_periods"] else "none pending")
        parts.append(f"{grain}: newest {_stamp(row['newest_period'])}, lag {human_lag(row['lag'])}, {pending}")
    return "freshness left behind: " + "; ".join(parts)


def freshness_summary(conn: Connection) -> str:
    """What a deadline miss should say about the rollups it left behind, in one line."""
    return summarize(freshness(conn))


def render_page(conn: Connection, now: datetime | None = None) -> str:
    """The Freshness page: on top the incidents and anomalies found in the last 24 hours,
    each linking to the Airflow run that found it; every rollup table's freshness; the last
    week's reconciliation incidents."""
    from datetime import UTC

    from agent_warehouse.checks.report import recent_checks, report_items, run_url
    from agent_warehouse.reports.daily import _templates

    now = now or datetime.now(UTC)
    rows = freshness(conn)
    for r in rows:
        r["lag_text"] = human_lag(r["lag"])
        # fresh: nothing pending and at most one period (plus the run's delay) behind
        step = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}[r["grain"]]
        r["fresh"] = not r["pending_periods"] and r["lag"] is not None and r["lag"] <= step + timedelta(hours=2)
    week = recent_checks(conn, now - timedelta(days=7))["incidents"]
    for i in week:
        i["run_url"] = run_url(i["dag_id"], i["run_id"])
    return _templates().get_template("freshness.html.j2").render(
        items=report_items(recent_checks(conn, now - timedelta(days=1))), rows=rows, incidents=week,
        now=now.strftime("%Y-%m-%d %H:%M UTC"), summary=summarize(rows))
