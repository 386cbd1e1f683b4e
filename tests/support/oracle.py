"""An independent computation of the contract's metrics in plain Python.

It reads nothing but raw rows and applies the contract's definitions, so tests compare
the SQL under test against arithmetic it does not share.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

VALID_STATUSES = {"queued", "running", "completed", "failed", "cancelled"}


def percentile_cont(values: list[float], q: float) -> float | None:
    """PostgreSQL's PERCENTILE_CONT: linear interpolation between order statistics."""
    if not values:
        return None
    xs = sorted(values)
    pos = q * (len(xs) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (pos - lo) * (xs[hi] - xs[lo])


def defect(status: str | None, runtime: float | None, credits: Decimal | None) -> str | None:
    """Why a raw row is unusable (the reason ops.rejected_runs_hourly counts it under), or
    None: the status first, then the runtime, then the credits. Negative, NaN and infinite
    values are all unusable: an infinite credit would make every total above it infinite."""
    if status not in VALID_STATUSES:
        return "unknown_status"
    if runtime is not None and (runtime < 0 or math.isnan(runtime) or math.isinf(runtime)):
        return "invalid_runtime"
    if credits is not None and (credits.is_nan() or credits.is_infinite() or credits < 0):
        return "invalid_credits"
    return None


def is_bad(status: str | None, runtime: float | None, credits: Decimal | None) -> bool:
    return defect(status, runtime, credits) is not None


def metrics(rows: Iterable[tuple], start: datetime, end: datetime) -> dict[str, dict[str, Any]]:
    """rows: (workspace_id, user_id, status, started_at, runtime_seconds, credits_consumed)."""
    groups: dict[str, list[tuple]] = defaultdict(list)
    for r in rows:
        if start <= r[3] < end and not is_bad(r[2], r[4], r[5]):
            groups[str(r[0])].append(r)
    out = {}
    for ws, rs in groups.items():
        runtimes = [r[4] for r in rs if r[4] is not None]
        out[ws] = {
            "total_executions": len(rs),
            "successful_executions": sum(r[2] == "completed" for r in rs),
            "failed_executions": sum(r[2] == "failed" for r in rs),
            "avg_runtime": sum(runtimes) / len(runtimes) if runtimes else None,
            "p95_runtime": percentile_cont(runtimes, 0.95),
            "total_credits": sum((r[5] for r in rs if r[5] is not None), Decimal(0)),
            "active_users": len({r[1] for r in rs}),
        }
    return out


def hours(start: datetime, end: datetime) -> list[datetime]:
    out, h = [], start
    while h < end:
        out.append(h)
        h += timedelta(hours=1)
    return out


def daily_metrics(rows: Iterable[tuple], day: date) -> dict[str, dict[str, Any]]:
    """The contract's metrics over one UTC day, straight from raw rows."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return metrics(rows, start, start + timedelta(days=1))


def weekly_metrics(rows: Iterable[tuple], week_start: date) -> dict[str, dict[str, Any]]:
    """The contract's metrics over one ISO week (Monday to Monday, UTC), from raw rows."""
    assert week_start.isoweekday() == 1
    start = datetime.combine(week_start, time(0), tzinfo=UTC)
    return metrics(rows, start, start + timedelta(days=7))
