"""The rollups: hourly (``hourly``), daily and weekly (``periods``), the dashboard views
(``views``) and the health scores (``health``). What they share is here."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from agent_warehouse.db import run_script_results

if TYPE_CHECKING:
    from agent_warehouse.db import Connection

log = logging.getLogger(__name__)


def utc_midnight(day: date) -> datetime:
    """The start of a UTC day as an aware datetime."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def run_guarded(conn: Connection, name: str, params: dict[str, Any]) -> tuple[list[tuple[Any, ...]], str | None]:
    """Run a rollup script (hour, day or week) in one transaction (``db.run_script``).

    Returns its last result and, when the period is past retention, the message of its
    guard (the ``past_retention`` column; the script then changed nothing), logged here.
    """
    results = run_script_results(conn, name, params)
    kept = next((rows[0][0] for columns, rows in results if columns[:1] == ("past_retention",)), None)
    if kept:
        log.info("%s", kept)
    return results[-1][1], kept
