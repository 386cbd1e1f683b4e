"""The project's Airflow plugin: registers the timetable the DAGs schedule with and
mounts the internal API (agent_warehouse/api.py) under ``/internal`` in the api-server."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from agent_warehouse.api import app as internal_api
from agent_warehouse.timetables import ClosedPeriodTimetable


class AgentWarehousePlugin(AirflowPlugin):
    name = "agent_warehouse"
    timetables = [ClosedPeriodTimetable]
    fastapi_apps = [{"app": internal_api, "url_prefix": "/internal", "name": "agent_warehouse_internal"}]
