"""Hourly rollups expire only behind their raw rows and behind every period still waiting
for its recompute, and the horizon reached is recorded (ops.delete_expired_hourly)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

from agent_warehouse.retention import cleanup as retention
from agent_warehouse.rollups import periods
from support.checks import fetch
from tools.synthetic import insert_runs, make_runs

DAYS = [date(2026, 1, 5) + timedelta(days=i) for i in range(6)]


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def hourly_days(conn) -> list[date]:
    return [r[0] for r in fetch(conn, "SELECT DISTINCT (hour AT TIME ZONE 'UTC')::date "
                                      "FROM analytics.execution_metrics_hourly ORDER BY 1")]


def test_hourly_rows_go_behind_raw_retention_and_pending_periods(wh):
    ws = [str(uuid.uuid4()) for _ in range(3)]
    for d in DAYS:
        insert_runs(wh, make_runs(random.Random(d.day), midnight(d), 60, ws, span=timedelta(days=1)))
        periods.daily(wh, d)
    periods.rollup_week(wh, DAYS[0])  # consumes the week entries the new days logged
    horizons = {"hourly_kept_from": DAYS[4], "job_runs_kept_from": DAYS[0]}

    # No raw day dropped yet: every hourly row is still needed.
    assert retention.delete_expired_rollups(wh, horizons)["hourly_rows"] == 0
    assert hourly_days(wh) == DAYS

    # Raw rows dropped before the 4th day, and the 2nd day waits for its recompute.
    with wh.cursor() as cur:
        cur.execute("INSERT INTO ops.retention_state (id, raw_kept_from) VALUES (true, %s)", (midnight(DAYS[3]),))
        cur.execute("INSERT INTO ops.rollup_invalidations (grain, period) VALUES ('day', %s)", (DAYS[1],))
    wh.commit()
    assert retention.delete_expired_rollups(wh, horizons)["hourly_rows"] > 0
    assert hourly_days(wh) == DAYS[1:]
    assert fetch(wh, "SELECT hourly_kept_from FROM ops.retention_state") == [(midnight(DAYS[1]),)]
    assert fetch(wh, "SELECT count(*) FROM ops.rollup_invalidations WHERE period < %s", (DAYS[1],)) == [(0,)]

    # Once the day is recomputed, the next cleanup goes on to the raw horizon, no further.
    assert periods.rollup_day(wh, DAYS[1])["kept"] is False
    retention.delete_expired_rollups(wh, horizons)
    assert hourly_days(wh) == DAYS[3:]
    assert fetch(wh, "SELECT hourly_kept_from FROM ops.retention_state") == [(midnight(DAYS[3]),)]
    # Days whose partials are gone are kept; the day after is still computed from its partials.
    assert periods.rollup_day(wh, DAYS[2])["kept"] is True
    assert periods.rollup_day(wh, DAYS[3])["kept"] is False
