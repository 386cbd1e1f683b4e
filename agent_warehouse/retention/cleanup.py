"""Retention: raw days leave by dropping whole partitions, only once they are rolled up.

The cleanup run for day D (03:00 UTC) keeps raw rows from ``D - raw_days`` on. Before
anything is dropped, every hour of the expiring days is made current (dirty or missing
hours re-rolled through ``hourly.rollup_hour``); ``ops.drop_expired_agent_runs`` checks
again and refuses to drop anything if an hour is still not rolled up. The check costs
O(hours) (the invalidation log and ``ops.hours_rolled_up``), and the drop holds its
ACCESS EXCLUSIVE locks for milliseconds, taken with a short, retried lock_timeout
(docs/locking.md).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent_warehouse import settings
from agent_warehouse.db import run_script
from agent_warehouse.reports.log_lines import summarised
from agent_warehouse.rollups import hourly, utc_midnight

if TYPE_CHECKING:
    from agent_warehouse.db import Connection

# Airflow Variable (JSON: {"raw_days": .., "hourly_days": .., "job_runs_days": ..}) that
# overrides the settings for every cleanup run; a run's params override it in turn.
VARIABLE = "agent_warehouse_retention"
log = logging.getLogger(__name__)


class RetentionRefused(RuntimeError):
    """Raw data cannot be dropped: some hour in it is not rolled up and current."""


@dataclass(frozen=True)
class Retention:
    raw_days: int = field(default_factory=lambda: settings.current().raw_retention_days)
    hourly_days: int = field(default_factory=lambda: settings.current().hourly_retention_days)
    job_runs_days: int = field(default_factory=lambda: settings.current().job_runs_retention_days)

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> Retention:
        """Settings, overridden by the run's params where given."""
        params = params or {}
        r = cls(**{k: int(params[k]) for k in ("raw_days", "hourly_days", "job_runs_days")
                   if params.get(k) is not None})
        if r.raw_days < 1:
            raise ValueError("raw_days must be at least 1")
        if r.hourly_days < r.raw_days:
            # Hourly rollups are what survives the raw rows: never drop them first.
            raise ValueError("hourly_days must be at least raw_days")
        return r

    def horizons(self, today: date) -> dict[str, date]:
        return {
            "raw_kept_from": today - timedelta(days=self.raw_days),
            "hourly_kept_from": today - timedelta(days=self.hourly_days),
            "job_runs_kept_from": today - timedelta(days=self.job_runs_days),
        }


def hours_to_repair(conn: Connection, keep_from: date) -> list[datetime]:
    """Hours before ``keep_from`` (not yet dropped) that are dirty or not rolled up."""
    return [r[0] for r in run_script(conn, "cleanup/hours_to_repair.sql", {"keep_from": keep_from})]


def ensure_daily_rollups_current(conn: Connection, keep_from: date) -> list[str]:
    """Days before ``keep_from`` keep their daily rows for ever, so they must be current
    before their raw rows go: recompute every such day that changed or was never rolled up."""
    from agent_warehouse.rollups import periods

    ((oldest,),) = run_script(conn, "cleanup/oldest_rolled_up_hour.sql",
                              {"before": utc_midnight(keep_from)})
    if oldest is None:
        return []
    days = periods.stale_periods(conn, "day", periods.as_date(oldest), keep_from)
    return [periods.rollup_day(conn, d)["day"] for d in days]


def make_current(conn: Connection, keep_from: date) -> list[str]:
    """Re-roll every hour before ``keep_from`` that is not current; fail if one stays so."""
    repaired = []
    for hour in hours_to_repair(conn, keep_from):
        hourly.rollup_hour(conn, hour)
        repaired.append(hour.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    left = hours_to_repair(conn, keep_from)
    if left:
        raise RetentionRefused(f"{len(left)} hour(s) before {keep_from} still not rolled up after "
                               f"repair (first {left[0]}); nothing dropped")
    ensure_daily_rollups_current(conn, keep_from)
    return repaired


# Rows of the default partition deleted per transaction: each batch holds row locks on
# expired rows only, for a few milliseconds.
DEFAULT_ROWS_BATCH = 5_000


def drop_expired_raw(conn: Connection, keep_from: date) -> dict[str, Any]:
    """Drop raw partitions before ``keep_from`` as the owner (one short transaction), then
    delete the default partition's rows before it in small batches, each its own transaction."""
    ((dropped,),) = run_script(conn, "cleanup/drop_expired_raw.sql", {"keep_from": keep_from})
    default_rows = 0
    while True:
        ((n,),) = run_script(conn, "cleanup/delete_expired_default_rows.sql", {"batch": DEFAULT_ROWS_BATCH})
        default_rows += n
        if n < DEFAULT_ROWS_BATCH:  # a short batch was the last; rows arriving later wait for the next run
            return {**dropped, "default_rows": default_rows}


def delete_expired_rollups(conn: Connection, horizons: dict[str, date]) -> dict[str, int]:
    """Hourly rollups and audit rows past their retention, in one transaction. The hourly rows
    (about 650,000 a day at 200,000 runs an hour) go through ``ops.delete_expired_hourly``,
    which deletes them without the tables' triggers (migration 0029); the audit rows by plain
    DELETE."""
    rows = run_script(conn, "cleanup/delete_expired_rollups.sql", {
        "hourly_before": utc_midnight(horizons["hourly_kept_from"]),
        "job_runs_before": utc_midnight(horizons["job_runs_kept_from"]),
    })
    return dict(zip(("hourly_rows", "rejected_rows", "job_runs", "deadline_misses"), rows[0],
                    strict=True))


def within_policy(conn: Connection, horizons: dict[str, date]) -> dict[str, date]:
    """The horizons, none later than the owner's retention policy allows (``ops.retention_policy``,
    migration 0023: the fewest days kept, counted back from today in UTC). The owner's functions
    apply the same bound whatever they are asked; asking for no more saves repairing hours that
    will not be dropped."""
    ((raw_latest, hourly_latest),) = run_script(conn, "cleanup/policy_horizons.sql", {})
    if horizons["raw_kept_from"] > raw_latest or horizons["hourly_kept_from"] > hourly_latest:
        log.warning("retention asked for raw rows from %s and hourly rollups from %s; the policy keeps "
                    "them from %s and %s at the latest (change ops.retention_policy as the owner)",
                    horizons["raw_kept_from"], horizons["hourly_kept_from"], raw_latest, hourly_latest)
    return {**horizons, "raw_kept_from": min(horizons["raw_kept_from"], raw_latest),
            "hourly_kept_from": min(horizons["hourly_kept_from"], hourly_latest)}


@summarised("cleanup")
def cleanup(conn: Connection, today: date, retention: Retention) -> dict[str, Any]:
    """The whole cleanup for day ``today``; returns the audit details."""
    horizons = within_policy(conn, retention.horizons(today))
    repaired = make_current(conn, horizons["raw_kept_from"])
    dropped = drop_expired_raw(conn, horizons["raw_kept_from"])
    deleted = delete_expired_rollups(conn, horizons)
    run_script(conn, "cleanup/analyze_raw.sql", {})
    return {"today": today.isoformat(), "retention": asdict(retention),
            **{k: v.isoformat() for k, v in horizons.items()},
            "hours_repaired": repaired, "dropped_partitions": dropped["partitions"],
            "default_rows_deleted": dropped["default_rows"], "deleted": deleted}
