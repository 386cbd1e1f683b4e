"""Each rollup task's log ends with one human line: the period, its workspaces, the rows
written, unchanged and rejected, the hours repaired, and why nothing was written."""

from __future__ import annotations

import logging
import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from agent_warehouse.reports import log_lines
from agent_warehouse.rollups import hourly, periods
from support.checks import fetch
from tools.synthetic import insert_runs, make_runs

DAY = date(2026, 1, 7)
MIDNIGHT = datetime(2026, 1, 7, tzinfo=UTC)


class Lines(logging.Handler):
    """The log_lines logger's messages (Airflow's logging setup leaves caplog out)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture()
def caplog_lines():
    logger = logging.getLogger(log_lines.__name__)
    handler, level = Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.messages
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_the_day_and_a_repair_say_what_they_wrote(wh, caplog_lines):
    rng = random.Random(5)
    workspaces = [str(uuid.uuid4()) for _ in range(6)]
    insert_runs(wh, make_runs(rng, MIDNIGHT, 600, workspaces, span=timedelta(days=1)))
    periods.daily(wh, DAY)
    (n,) = fetch(wh, "SELECT count(*) FROM analytics.execution_metrics_daily WHERE day = %s", (DAY,))[0]
    day_line = caplog_lines[-1]
    assert day_line.startswith(f"day 2026-01-07: {n} workspaces; ") and "rows written, 0 workspaces unchanged" in day_line
    assert "; 24 changed hours repaired" in day_line  # new rows name their hours in the invalidation log

    caplog_lines.clear()
    periods.daily(wh, DAY)  # a rerun of a current day writes nothing, and says why
    assert caplog_lines[-1].startswith(f"day 2026-01-07: {n} workspaces; 0 rows changed: the day was already "
                                        "current; 0 runs rejected; 0 changed hours repaired")

    caplog_lines.clear()  # a late run for 05:00: the next repair names the hour
    insert_runs(wh, make_runs(rng, MIDNIGHT + timedelta(hours=5), 3, workspaces[:1]))
    hourly.repair(wh, before=MIDNIGHT + timedelta(days=1))
    line = caplog_lines[-1]
    assert line.startswith("changed hours before 2026-01-08 00:00 UTC: 1 hour repaired (2026-01-07 05:00); ")
    assert " rows written;" in line


def test_log_hour_counts_the_hours_workspaces(wh, monkeypatch):
    from contextlib import contextmanager

    @contextmanager
    def same_connection():
        yield wh

    monkeypatch.setattr("agent_warehouse.db.warehouse", same_connection)
    rng = random.Random(6)
    insert_runs(wh, make_runs(rng, MIDNIGHT, 200, [str(uuid.uuid4()) for _ in range(4)]))
    out = hourly.rollup_hour(wh, MIDNIGHT)
    line = log_lines.log_hour({"rows_written": 0, "details": {**out, "bad_rows": 0}})
    (n,) = fetch(wh, "SELECT count(*) FROM analytics.execution_metrics_hourly WHERE hour = %s", (MIDNIGHT,))[0]
    assert line == (f"hour 2026-01-07 00:00-01:00 UTC: {n} workspaces; 0 rows changed: the hour was already "
                    "current; 0 runs rejected")
