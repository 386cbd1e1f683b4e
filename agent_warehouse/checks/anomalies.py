"""Which workspaces' agents started failing or slowing down: per workspace and hour, the
failure rate and the p95 runtime against the workspace's own trailing 7-day baseline for
the same hour of day (``include/sql/checks/anomalies_hour.sql``).

Why these statistics. Both are counts out of the hour's runs, whose noise is known, scored
with a one-sided binomial z-score (continuity-corrected) against the baseline's pooled rate
of the same count (7 hours of the same hour of day, smoothed by one "yes" and one "no" so a
clean baseline is not a rate of 0):

- failure_rate: the failed runs; flagged at z >= 4 (a one-sided tail of 3e-5 under the
  baseline) and a rate at least 5 points above the baseline's.
- p95_runtime: the runs slower than the baseline p95 (the median of the baseline hours'
  p95s), counted from the hourly runtime sketches' buckets; about 5% of runs under the
  baseline, most of them when a workspace slows down. Flagged at z >= 4 and a p95 at least
  1.5 times the baseline's. A robust z-score of the p95 itself (median and MAD of 7 values)
  was tried first: runtimes are heavy-tailed, one huge run moves the p95 of 40 runs
  several-fold, and it flagged 2 of 761 clean workspace-hours where this count flags none.

Both only flag rises: a workspace failing less or running faster is no incident.
Workspace-hours with fewer than 30 runs, now or on a baseline day, are ignored, and a
baseline needs 3 such days. All are settings (``checks/settings.py``,
``AGENT_WAREHOUSE_ANOMALY_*``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from agent_warehouse.checks.settings import AnomalySettings, anomaly_settings
from agent_warehouse.db import run_script, sql, transaction

if TYPE_CHECKING:
    from agent_warehouse.db import Connection

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def _params(s: AnomalySettings) -> dict[str, Any]:
    return {"min_runs": s.min_runs, "min_baseline_days": s.min_baseline_days, "failure_z": s.failure_z,
            "min_rate_increase": s.min_rate_increase, "p95_z": s.p95_z, "min_p95_ratio": s.min_p95_ratio}


def detect_hour(conn: Connection, hour: datetime, settings: AnomalySettings | None = None,
                dag_id: str | None = None, run_id: str | None = None) -> dict[str, int]:
    """Score every workspace of ``hour`` and rewrite its flagged rows (one transaction);
    ``dag_id`` and ``run_id`` name the Airflow run that finds them (the report links to it)."""
    s = settings or anomaly_settings()
    ((flagged, scored),) = run_script(conn, "checks/anomalies_hour.sql",
                                      {"start": hour, "dag_id": dag_id, "run_id": run_id, **_params(s)})
    return {"flagged": int(flagged), "scored": int(scored)}


def detect_day(conn: Connection, day: date, settings: AnomalySettings | None = None,
               dag_id: str | None = None, run_id: str | None = None) -> dict[str, int]:
    """Every hour of ``day`` scored again (late rows repaired since change the hours)."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    totals = {"flagged": 0, "scored": 0}
    for h in range(24):
        got = detect_hour(conn, start + h * HOUR, settings, dag_id, run_id)
        totals = {k: totals[k] + got[k] for k in totals}
    return totals


def _rows(conn: Connection, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with transaction(conn) as cur:
        cur.execute(sql(name), params)
        return [{"workspace_id": w, "hour": h.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ"), "metric": m,
                 "value": v, "baseline": b, "score": round(sc, 2), "runs": n, "dag_id": dag_id, "run_id": run_id}
                for w, h, m, v, b, sc, n, dag_id, run_id in cur.fetchall()]


def day_anomalies(conn: Connection, day: date, limit: int = 50) -> list[dict[str, Any]]:
    """The day's flagged workspace-hours, worst first (the daily report's section)."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return _rows(conn, "checks/day_anomalies.sql", {"start": start, "end": start + DAY, "limit": limit})


def recent_anomalies(conn: Connection, since: datetime, limit: int = 50) -> list[dict[str, Any]]:
    """The workspace-hours flagged since ``since``, newest first (the Freshness page)."""
    return _rows(conn, "checks/recent_anomalies.sql", {"since": since, "limit": limit})


def describe(row: dict[str, Any]) -> str:
    """One line: which workspace, when, what moved and by how much."""
    hour = row["hour"] if isinstance(row["hour"], str) else row["hour"].astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
    if row["metric"] == "failure_rate":
        what = f"failure rate {100 * row['value']:.1f}% (baseline {100 * row['baseline']:.1f}%)"
    else:
        what = f"p95 runtime {row['value']:,.1f} s (baseline {row['baseline']:,.1f} s)"
    return f"workspace {row['workspace_id']} at {hour}: {what}, score {row['score']:.1f}, {row['runs']} runs"
