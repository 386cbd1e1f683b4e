"""An independent computation of the contract's metrics in plain Python.

It reads nothing but raw rows and applies the contract's definitions, so tests compare
the SQL under test against arithmetic it does not share.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal
from typing import Any

VALID_STATUSES = {"queued", "running", "completed", "failed", "cancelled"}
# The accepted domain of raw rows (README "Bad rows", docs/bad-rows.md, migration 0022).
STARTED_AT_FROM = datetime(2000, 1, 1, tzinfo=UTC)  # supported start times: [FROM, UNTIL)
STARTED_AT_UNTIL = datetime(2100, 1, 1, tzinfo=UTC)
RUNTIME_MIN, RUNTIME_MAX = 1e-6, 1e9  # a runtime is 0 or in [MIN, MAX] seconds
CREDITS_MIN, CREDITS_MAX = Decimal("1e-9"), Decimal("1e15")  # credits are 0 or in [MIN, MAX]
NIL_USER = "00000000-0000-0000-0000-000000000000"  # runs without a user are counted under it
# Exact Decimal sums over any accepted numeric (PostgreSQL keeps up to 16383 fraction digits).
EXACT = Context(prec=200_000, Emax=MAX_EMAX, Emin=MIN_EMIN)


def percentile_cont(values: list[float], q: float) -> float | None:
    """PostgreSQL's PERCENTILE_CONT: linear interpolation between order statistics."""
    if not values:
        return None
    xs = sorted(values)
    pos = q * (len(xs) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (pos - lo) * (xs[hi] - xs[lo])


def started_in_range(started_at: datetime | None) -> bool:
    return started_at is not None and STARTED_AT_FROM <= started_at < STARTED_AT_UNTIL


def defect(status: str | None, runtime: float | None, credits: Decimal | None,
           started_at: datetime | None = None, check_start: bool = False) -> str | None:
    """Why a raw row is unusable (the reason it is counted under), or None: the start time
    first (with ``check_start``: None or outside the supported range), then the status,
    the runtime, the credits. Negative, NaN and infinite values are all unusable, and so are
    values outside the stated floors and ceilings."""
    if check_start and not started_in_range(started_at):
        return "invalid_started_at"
    if status not in VALID_STATUSES:
        return "unknown_status"
    if runtime is not None and not (runtime == 0 or RUNTIME_MIN <= runtime <= RUNTIME_MAX):
        return "invalid_runtime"  # NaN fails every comparison
    if credits is not None and (credits.is_nan() or not (credits == 0 or CREDITS_MIN <= credits <= CREDITS_MAX)):
        return "invalid_credits"
    return None


def is_bad(status: str | None, runtime: float | None, credits: Decimal | None,
           started_at: datetime | None = None, check_start: bool = False) -> bool:
    return defect(status, runtime, credits, started_at, check_start) is not None


def hour_of(started_at: datetime) -> datetime:
    return started_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def metrics(rows: Iterable[tuple], start: datetime, end: datetime) -> dict[str, dict[str, Any]]:
    """rows: (workspace_id, user_id, status, started_at, runtime_seconds, credits_consumed)."""
    groups: dict[str, list[tuple]] = defaultdict(list)
    for r in rows:
        if start <= r[3] < end and not is_bad(r[2], r[4], r[5], r[3], check_start=True):
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
            "total_credits": EXACT.plus(sum_exact(r[5] for r in rs if r[5] is not None)),
            "active_users": len({r[1] or NIL_USER for r in rs}),
        }
    return out


def sum_exact(values: Iterable[Decimal]) -> Decimal:
    """A Decimal sum with no rounding (as PostgreSQL's numeric sum)."""
    total = Decimal(0)
    for v in values:
        total = EXACT.add(total, v)
    return total


def rejected(rows: Iterable[tuple], start: datetime, end: datetime) -> dict[tuple[datetime, str, str], int]:
    """Rows of supported hours in [start, end) left out, per (hour, workspace, reason)."""
    out: dict[tuple[datetime, str, str], int] = defaultdict(int)
    for r in rows:
        if started_in_range(r[3]) and start <= r[3] < end:
            why = defect(r[2], r[4], r[5])
            if why is not None:
                out[(hour_of(r[3]), str(r[0]), why)] += 1
    return dict(out)


def out_of_range(rows: Iterable[tuple]) -> dict[str, int]:
    """Rows started outside the supported range, per workspace (ops.rejected_runs_out_of_range)."""
    out: dict[str, int] = defaultdict(int)
    for r in rows:
        if not started_in_range(r[3]):
            out[str(r[0])] += 1
    return dict(out)


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
