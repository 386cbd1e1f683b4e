"""The self-checks' section of the daily report and of the Freshness page: the day's
reconciliation incidents and workspace anomalies, each linking to the Airflow run that found
it (``reports/daily.py`` adds them under ``checks``; the template macro
``incidents.html.j2`` draws them on both pages)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from agent_warehouse.checks.anomalies import day_anomalies
from agent_warehouse.db import sql, transaction

if TYPE_CHECKING:
    from agent_warehouse.db import Connection

LIMIT = 50


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def run_url(dag_id: str | None, run_id: str | None) -> str | None:
    """The Airflow 3 UI's page of a DAG run, ``<base>/dags/<dag_id>/runs/<run_id>`` (ids
    URL-quoted: a scheduled run's id holds ``:`` and ``+``). The base is the setting
    ``AGENT_WAREHOUSE_AIRFLOW_UI_URL``; empty (the default), the link is relative to the
    pages, which the plugin serves under ``/reports/`` on the api-server that serves the UI:
    ``../dags/...`` from ``/reports/<page>`` is that server's ``/dags/...``."""
    from agent_warehouse.checks.settings import link_settings

    if not dag_id or not run_id:
        return None
    base = link_settings().airflow_ui_url.rstrip("/") or ".."
    return f"{base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def _incidents(cur: Any) -> list[dict[str, Any]]:
    names = [c.name for c in cur.description or ()]
    return [{**row, "found_at": _iso(row["found_at"]), "period": _iso(row["period"]),
             "table": row["table_name"]} for row in (dict(zip(names, r, strict=True)) for r in cur.fetchall())]


def day_checks(conn: Connection, day: date) -> dict[str, Any]:
    """JSON-ready: the incidents about the day's periods and the day's flagged workspace-hours."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    with transaction(conn) as cur:
        cur.execute(sql("checks/day_incidents.sql"), {"start": start, "end": start + timedelta(days=1), "limit": LIMIT})
        incidents = _incidents(cur)
    return {"incidents": incidents, "anomalies": day_anomalies(conn, day, LIMIT)}


def recent_checks(conn: Connection, since: datetime) -> dict[str, Any]:
    """The incidents and anomalies found since ``since`` (the Freshness page's top section),
    newest first."""
    from agent_warehouse.checks.anomalies import recent_anomalies

    with transaction(conn) as cur:
        cur.execute(sql("checks/recent_incidents.sql"), {"since": since, "limit": LIMIT})
        incidents = _incidents(cur)
    return {"incidents": incidents, "anomalies": recent_anomalies(conn, since, LIMIT)}


def report_items(checks: dict[str, Any]) -> list[dict[str, Any]]:
    """The incidents and anomalies in the shape the pages' top section lists
    (``templates/incidents.html.j2``: ``when``, ``kind``, ``summary``, ``workspace_id``,
    ``run``, ``run_url``): each links to the Airflow run that found it."""
    from agent_warehouse.checks.anomalies import describe

    items = []
    for i in checks["incidents"]:
        items.append({"when": i["period"], "kind": f"reconciliation ({i['outcome'].replace('_', ' ')})",
                      "summary": f"{i['grain']} of {i['table']}: {i['what_differed']}",
                      "run": i["run_id"] and f"{i['dag_id']} {i['run_id']}",
                      "run_url": run_url(i["dag_id"], i["run_id"])})
    for a in checks["anomalies"]:
        items.append({"when": a["hour"], "kind": f"anomaly: {a['metric'].replace('_', ' ')}",
                      "summary": describe(a).split(": ", 1)[1], "workspace_id": a["workspace_id"],
                      "run": a.get("run_id") and f"{a['dag_id']} {a['run_id']}",
                      "run_url": run_url(a.get("dag_id"), a.get("run_id"))})
    return items
