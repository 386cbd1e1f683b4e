"""Daily health scores per workspace (docs/health.md), from the daily rollups."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from agent_warehouse.db import run_script

if TYPE_CHECKING:
    from agent_warehouse.db import Connection

DAY = timedelta(days=1)


def health_day(conn: Connection, day: date) -> int:
    """Score every workspace with runs on ``day`` (docs/health.md); returns the rows held."""
    ((rows,),) = run_script(conn, "daily/health_day.sql", {"day": day})
    return rows


def days_to_score(recomputed: list[date], upto: date) -> list[date]:
    """Health depends on the day and its trailing 7-day baseline: a recomputed day changes
    its own score and those of the 7 days after it (up to the run's day)."""
    return sorted({d + k * DAY for d in recomputed for k in range(8) if d + k * DAY <= upto})
