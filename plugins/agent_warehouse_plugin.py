"""The project's Airflow plugin: registers the timetable the DAGs schedule with, serves
the daily reports under ``/reports`` (with a link in the UI's navigation) and mounts the
internal API (agent_warehouse/web/internal_api.py) under ``/internal`` in the api-server."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from agent_warehouse.orchestration.timetables import ClosedPeriodTimetable
from agent_warehouse.web.internal_api import app as internal_api
from agent_warehouse.web.reports_app import app as reports_app


class AgentWarehousePlugin(AirflowPlugin):
    name = "agent_warehouse"
    timetables = [ClosedPeriodTimetable]
    fastapi_apps = [
        {"app": reports_app, "url_prefix": "/reports", "name": "Daily reports"},
        {"app": internal_api, "url_prefix": "/internal", "name": "agent_warehouse_internal"},
    ]
    external_views = [{"name": "Daily reports", "href": "/reports/", "destination": "nav",
                       "url_route": "daily_reports"}]
