"""``ClosedPeriodTimetable``: a clock-aligned period, run a little after it closes.

Airflow's ``CronDataIntervalTimetable("0 * * * *")`` gives the closed hour [H, H+1h) but
runs at H+1h exactly; the contract wants it at H+1h+5min. This subclass keeps its data
intervals (and its manual-run rule: the last period closed at T) and only moves
``run_after`` by ``delay``. Registered by the project's plugin so the scheduler can
deserialize it.

Also here, :func:`with_run_period`: a run without a logical date (the REST API's default,
``airflow dags trigger``) has no data interval in Airflow 3.3: ``{{ data_interval_start }}``
is undefined and tasks get ``None``. Every DAG of the package takes, for such a run, the
period Airflow itself infers for it (``models/dag.py``: the timetable's
``infer_manual_data_interval(run_after)``), the last period closed at its ``run_after``, as a
manual run from the UI (which sends a logical date) does.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import timedelta
from typing import Any

import jinja2
import jinja2.ext
import jinja2.runtime
import jinja2.utils
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


# ---------------------------------------------------------------- runs without a logical date
PERIOD_KEYS = ("data_interval_start", "data_interval_end")


def run_period(context: Any) -> tuple[Any, Any] | None:
    """The run's period: its data interval, else (a run without a logical date) the last
    period of the DAG's timetable closed at the run's ``run_after``; None if neither is known."""
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is not None and end is not None:
        return start, end
    dag_run, dag = context.get("dag_run"), context.get("dag")
    run_after = getattr(dag_run, "run_after", None)
    timetable = getattr(dag, "timetable", None)
    if run_after is None or timetable is None:
        return None
    import pendulum

    interval = timetable.infer_manual_data_interval(run_after=pendulum.instance(run_after))
    return interval.start, interval.end


def fill_run_period(context: MutableMapping[str, Any]) -> None:
    """``on_execute_callback``: put the run's period in the task's context where Airflow left
    it out, so TaskFlow arguments such as ``data_interval_start=None`` receive it."""
    if all(context.get(k) is not None for k in PERIOD_KEYS):
        return
    period = run_period(context)
    if period is not None:
        context["data_interval_start"], context["data_interval_end"] = period


class _PeriodContext(jinja2.runtime.Context):
    """Template context that answers ``data_interval_start``/``_end`` with :func:`run_period`
    when Airflow's context has no such key (templates are rendered before any callback)."""

    def resolve_or_missing(self, key: str) -> Any:
        value = super().resolve_or_missing(key)
        if value is jinja2.utils.missing and key in PERIOD_KEYS:
            period = run_period(self.parent)
            if period is not None:
                return period[PERIOD_KEYS.index(key)]
        return value


class RunPeriodExtension(jinja2.ext.Extension):
    """Jinja extension (named in the DAG's ``jinja_environment_kwargs``) installing
    :class:`_PeriodContext` on the environment Airflow renders the task's templates with."""

    def __init__(self, environment: jinja2.Environment) -> None:
        super().__init__(environment)
        base = environment.context_class
        if not issubclass(base, _PeriodContext):
            environment.context_class = type("RunPeriodContext", (_PeriodContext, base), {})


EXTENSION = f"{RunPeriodExtension.__module__}.{RunPeriodExtension.__qualname__}"


def with_run_period(dag: Any) -> None:
    """Give every task of ``dag`` its run's period when the run has no logical date: in its
    templates (the Jinja extension) and in its context (an ``on_execute_callback``)."""
    kwargs = dict(dag.jinja_environment_kwargs or {})
    extensions = list(kwargs.get("extensions", ["jinja2.ext.do"]))
    if EXTENSION not in extensions:
        kwargs["extensions"] = [*extensions, EXTENSION]
        dag.jinja_environment_kwargs = kwargs
    for task in dag.task_dict.values():
        callbacks = task.on_execute_callback
        callbacks = list(callbacks) if isinstance(callbacks, list | tuple) else [callbacks] if callbacks else []
        if fill_run_period not in callbacks:
            task.on_execute_callback = [fill_run_period, *callbacks]


# Every Airflow process that reads these DAGs loads this module through the plugin (it
# registers the timetable): the api-server's Clear needs the deadline workaround there.
from agent_warehouse.orchestration.deadlines import fix_airflow_in_this_process  # noqa: E402

fix_airflow_in_this_process()
