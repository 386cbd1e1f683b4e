"""The self-checks' tables start empty in every test of this folder (the shared ``wh``
fixture does not know them yet)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def empty_check_tables(request):
    if "wh" not in request.fixturenames:
        yield
        return
    conn = request.getfixturevalue("wh")
    with conn.cursor() as cur:
        cur.execute("TRUNCATE ops.reconciliation_incidents, analytics.workspace_anomalies_hourly")
    conn.commit()
    yield
