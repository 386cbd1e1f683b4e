"""``ClosedPeriodTimetable``: a clock-aligned period, run a little after it closes.

Airflow's ``CronDataIntervalTimetable("0 * * * *")`` gives the closed hour [H, H+1h) but
runs at H+1h exactly; the contract wants it at H+1h+5min. This subclass keeps its data
intervals (and its manual-run rule: the last period closed at T) and only moves
``run_after`` by ``delay``. Registered by the project's plugin so the scheduler can
deserialize it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction
from airflow.timetables.interval import CronDataIntervalTimetable


class ClosedPeriodTimetable(CronDataIntervalTimetable):
    """Data interval: the cron period ``[start, end)``; the run starts at ``end + delay``."""

    def __init__(self, cron: str, delay: timedelta = timedelta(0), timezone: Any = "UTC") -> None:
        super().__init__(cron, timezone)
        self._delay = delay
        self.description = f"{self.description}, run {_fmt(delay)} after the period closes"

    @property
    def delay(self) -> timedelta:
        return self._delay

    @property
    def summary(self) -> str:
        return f"{self._expression} +{_fmt(self._delay)}"

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        info = super().next_dagrun_info(
            last_automated_data_interval=last_automated_data_interval, restriction=restriction
        )
        if info is None or info.data_interval is None:
            return info
        interval = info.data_interval
        return DagRunInfo(run_after=interval.end + self._delay, data_interval=interval)

    def serialize(self) -> dict[str, Any]:
        return {**super().serialize(), "delay_seconds": self._delay.total_seconds()}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> ClosedPeriodTimetable:
        from airflow._shared.timezones.timezone import parse_timezone

        return cls(data["expression"], timedelta(seconds=data.get("delay_seconds", 0)),
                   parse_timezone(data["timezone"]))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ClosedPeriodTimetable):
            return NotImplemented
        return super().__eq__(other) and self._delay == other._delay

    def __hash__(self) -> int:
        return hash((self._expression, self._delay))


def _fmt(delay: timedelta) -> str:
    minutes = int(delay.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"
