"""The project's Airflow plugin: registers the timetable the DAGs schedule with."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from agent_warehouse.timetables import ClosedPeriodTimetable


class AgentWarehousePlugin(AirflowPlugin):
    name = "agent_warehouse"
    timetables = [ClosedPeriodTimetable]
