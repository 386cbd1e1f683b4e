"""The self-checks' section of the daily report: the day's reconciliation incidents and
workspace anomalies (``reports/daily.py`` adds it under ``checks``; the template
``checks_section.html.j2`` draws it)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from agent_warehouse.checks.anomalies import day_anomalies
from agent_warehouse.db import sql, transaction

if TYPE_CHECKING:
    from agent_warehouse.db import Connection

LIMIT = 50


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def day_checks(conn: Connection, day: date) -> dict[str, Any]:
    """JSON-ready: the incidents about the day's periods and the day's flagged workspace-hours."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    with transaction(conn) as cur:
        cur.execute(sql("checks/day_incidents.sql"), {"start": start, "end": start + timedelta(days=1), "limit": LIMIT})
        incidents = [{"id": i, "found_at": _iso(found), "grain": g, "period": _iso(p), "table": t,
                      "what_differed": what, "outcome": outcome, "dag_id": dag_id, "run_id": run_id}
                     for i, found, g, p, t, what, outcome, dag_id, run_id in cur.fetchall()]
    return {"incidents": incidents, "anomalies": day_anomalies(conn, day, LIMIT)}


def report_items(checks: dict[str, Any]) -> list[dict[str, Any]]:
    """The day's incidents and anomalies in the shape the report's top section lists
    (``reports/daily.py`` ``render_html``: ``when``, ``kind``, ``summary``, ``workspace_id``,
    ``run_url``); an incident links to the Airflow run that found it."""
    from agent_warehouse.checks.anomalies import describe

    items = []
    for i in checks["incidents"]:
        items.append({"when": i["period"], "kind": f"reconciliation ({i['outcome'].replace('_', ' ')})",
                      "summary": f"{i['grain']} of {i['table']}: {i['what_differed']}",
                      # the report is served under /reports/ on the api-server, beside the UI
                      "run_url": f"../dags/{i['dag_id']}/runs/{i['run_id']}" if i["dag_id"] and i["run_id"] else None})
    for a in checks["anomalies"]:
        items.append({"when": a["hour"], "kind": f"anomaly: {a['metric'].replace('_', ' ')}",
                      "summary": describe(a).split(": ", 1)[1], "workspace_id": a["workspace_id"]})
    return items
