"""ClosedPeriodTimetable without a database, in the style of mozilla/telemetry-airflow's
timetable tests: the runs a scheduler would make, manual runs, and the round trip through
serialization that the scheduler and the api-server depend on."""

from __future__ import annotations

from datetime import datetime, timedelta

import pendulum
import pytest
from airflow.timetables.base import DataInterval, TimeRestriction

from agent_warehouse.orchestration.timetables import ClosedPeriodTimetable

HOURLY = ClosedPeriodTimetable("0 * * * *", delay=timedelta(minutes=5))
DAILY = ClosedPeriodTimetable("0 0 * * *", delay=timedelta(hours=1))
WEEKLY = ClosedPeriodTimetable("0 0 * * 1", delay=timedelta(hours=2))


def at(*args: int) -> datetime:
    """A UTC time as the scheduler hands it to a timetable (pendulum)."""
    return pendulum.datetime(*args, tz="UTC")


def scheduled_runs(timetable: ClosedPeriodTimetable, start: datetime, count: int) -> list:
    """The first ``count`` runs the scheduler would create from ``start`` (catchup on)."""
    restriction = TimeRestriction(earliest=start, latest=None, catchup=True)
    runs, last = [], None
    for _ in range(count):
        info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        runs.append(info)
        last = info.data_interval
    return runs


@pytest.mark.parametrize(("timetable", "period", "delay"), [
    (HOURLY, timedelta(hours=1), timedelta(minutes=5)),
    (DAILY, timedelta(days=1), timedelta(hours=1)),
    (WEEKLY, timedelta(weeks=1), timedelta(hours=2)),
])
def test_scheduled_runs_are_closed_periods_started_after_the_delay(timetable, period, delay):
    start = at(2026, 1, 5)  # a Monday, so the weekly periods start on it too
    runs = scheduled_runs(timetable, start, 5)
    for i, info in enumerate(runs):
        assert info.data_interval.start == start + i * period
        assert info.data_interval.end == info.data_interval.start + period
        assert info.run_after == info.data_interval.end + delay
    # back to back: no period skipped, none twice
    assert all(a.data_interval.end == b.data_interval.start for a, b in zip(runs, runs[1:], strict=False))


def test_weekly_periods_are_iso_weeks_from_monday():
    (first,) = scheduled_runs(WEEKLY, at(2026, 1, 7), 1)  # a Wednesday: the next Monday starts
    assert first.data_interval.start.isoweekday() == 1
    assert first.data_interval.start == at(2026, 1, 12)


@pytest.mark.parametrize(("run_after", "expected_start"), [
    (at(2026, 1, 5, 10, 5), at(2026, 1, 5, 9)),     # the contract's example
    (at(2026, 1, 5, 10, 0), at(2026, 1, 5, 9)),     # on the boundary: the hour that just closed
    (at(2026, 1, 5, 10, 59, 59), at(2026, 1, 5, 9)),
    (at(2026, 1, 1, 0, 0), at(2025, 12, 31, 23)),   # across a year
])
def test_manual_run_takes_the_last_hour_closed(run_after, expected_start):
    interval = HOURLY.infer_manual_data_interval(run_after=run_after)
    assert interval == DataInterval(expected_start, expected_start + timedelta(hours=1))


def test_manual_daily_and_weekly_runs_take_the_last_closed_day_and_week():
    assert DAILY.infer_manual_data_interval(run_after=at(2026, 1, 6, 1)) == DataInterval(at(2026, 1, 5), at(2026, 1, 6))
    assert WEEKLY.infer_manual_data_interval(run_after=at(2026, 1, 12, 2)) == DataInterval(at(2026, 1, 5), at(2026, 1, 12))


@pytest.mark.parametrize("timetable", [HOURLY, DAILY, WEEKLY])
def test_serialization_round_trip_keeps_periods_and_delay(timetable):
    again = ClosedPeriodTimetable.deserialize(timetable.serialize())
    assert again == timetable
    assert hash(again) == hash(timetable)
    assert again.delay == timetable.delay
    assert scheduled_runs(again, at(2026, 3, 2), 3) == scheduled_runs(timetable, at(2026, 3, 2), 3)


def test_summary_and_description_name_the_delay():
    assert HOURLY.summary == "0 * * * * +5m"
    assert DAILY.summary == "0 0 * * * +1h00m"
    assert "run 5m after the period closes" in HOURLY.description
