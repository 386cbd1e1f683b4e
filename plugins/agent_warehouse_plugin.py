"""The project's Airflow plugin for a plugins folder (agent_warehouse/orchestration/plugin.py).

Where the package is pip-installed its ``airflow.plugins`` entry point registers the plugin
and this file defines nothing, so Airflow does not see it twice; where the package is only
on ``sys.path`` (copied beside the DAGs), this file registers it.
"""

from __future__ import annotations

from agent_warehouse.orchestration import plugin

if not plugin.registered_by_entry_point():
    AgentWarehousePlugin = plugin.AgentWarehousePlugin
