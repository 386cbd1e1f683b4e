"""Dashboard materialized views (``analytics.workspace_summary_30d`` and friends).

Refreshed CONCURRENTLY, so dashboards keep reading the previous contents meanwhile,
through ``ops.refresh_dashboard_view`` (REFRESH needs ownership; the job role has none).
Each view is its own transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent_warehouse import settings
from agent_warehouse.db import run_script

if TYPE_CHECKING:
    from agent_warehouse.db import Connection


def refresh(conn: Connection, views: tuple[str, ...] = settings.DASHBOARD_VIEWS) -> dict[str, float]:
    """Refresh every dashboard view; return the seconds each refresh took (server side)."""
    return {name: float(run_script(conn, "views/refresh_view.sql", {"name": name})[0][0])
            for name in views}
