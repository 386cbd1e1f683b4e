"""Derive: per company, signal type and UTC day, counts and 7-/30-day velocities."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from agent_warehouse.db import run_script

if TYPE_CHECKING:
    from agent_warehouse.db import Connection


def derive_day(conn: Connection, day: date) -> dict[str, int]:
    """Recompute ``signals.company_features_daily`` for ``day`` in one transaction."""
    (companies, feature_rows, written, deleted), = run_script(conn, "signals/derive_day.sql", {"day": day})
    return {"companies": int(companies), "feature_rows": int(feature_rows),
            "rows_written": int(written), "rows_deleted": int(deleted)}
