"""The project's Airflow plugin: registers the timetable the DAGs schedule with, serves
the daily reports and the Freshness page under ``/reports`` (linked in the UI's navigation),
registers the audit listener and mounts the
internal API (agent_warehouse/web/internal_api.py) under ``/internal`` in the api-server.

Registered through the package's ``airflow.plugins`` entry point (pyproject.toml).
``plugins/agent_warehouse_plugin.py`` re-exports it for deployments that use a plugins
folder instead of installing the package.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from airflow.plugins_manager import AirflowPlugin

from agent_warehouse.orchestration import listeners as audit_listeners
from agent_warehouse.orchestration.timetables import ClosedPeriodTimetable

ENTRY_POINT = "agent_warehouse.orchestration.plugin:AgentWarehousePlugin"


class _WebApps:
    """``fastapi_apps``, imported when read: only the api-server (and ``airflow plugins``)
    reads them, but every task process loads every plugin, and importing the two FastAPI
    apps cost each task about half a second of CPU (tools/bench_backfill.py)."""

    def __get__(self, obj: object, owner: type | None = None) -> list[dict[str, object]]:
        from agent_warehouse.web.internal_api import app as internal_api
        from agent_warehouse.web.reports_app import app as reports_app

        return [
            {"app": reports_app, "url_prefix": "/reports", "name": "Daily reports"},
            {"app": internal_api, "url_prefix": "/internal", "name": "agent_warehouse_internal"},
        ]


class AgentWarehousePlugin(AirflowPlugin):
    name = "agent_warehouse"
    timetables = [ClosedPeriodTimetable]
    # The audit row follows what operators do to a run (clear, mark failed/success: docs/audit.md).
    listeners = [audit_listeners]
    fastapi_apps = _WebApps()
    # One entry: the UI folds two or more nav entries into a "Plugins" menu. The reports'
    # index links to the Freshness page.
    external_views = [{"name": "Reports", "href": "/reports/", "destination": "nav",
                       "url_route": "daily_reports"}]


def registered_by_entry_point() -> bool:
    """Whether the installed package's metadata registers the plugin. Airflow loads the
    plugins folder first, then entry points, and records a second plugin of the same name
    as an import error ("already registered"): the folder's copy steps aside."""
    return any(ep.value == ENTRY_POINT for ep in entry_points(group="airflow.plugins"))
