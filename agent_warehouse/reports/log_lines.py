"""One human line at the end of each rollup task's log: the period, its workspaces, the rows
written, left unchanged and rejected, and the hours repaired.

``rows_written`` counts rows inserted, updated or deleted (migration 0014), so a rerun of a
current period writes 0: the line says so in words ("0 rows changed: the hour was already
current") instead of leaving a bare 0 next to thousands of runs.

Python tasks get their line from :func:`summarised`, a decorator on the package function
they call (``hourly.repair``, ``periods.daily``, ``periods.weekly``, ``cleanup.cleanup``).
The SQL task ``rollup_hour`` gets it from its ``output_processor``
(``orchestration.tasks.sql_written``), which calls :func:`log_hour`. Writing the line never
fails a task: a failure to count is logged and the line goes without the counts.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent_warehouse.db import one_row, sql, transaction

if TYPE_CHECKING:
    from agent_warehouse.db import Connection

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def _n(value: Any) -> str:
    return f"{int(value):,}"


def _plural(n: int, word: str) -> str:
    return f"{_n(n)} {word}{'' if n == 1 else 's'}"


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value.astimezone(UTC)


def _hour_label(value: Any) -> str:
    return f"{_utc(value):%Y-%m-%d %H:%M}"


def written_phrase(written: int, unchanged: int | None, period: str, detail: str = "") -> str:
    """'1,234 rows written (detail), 12 workspaces unchanged', or why nothing was written."""
    if not written:
        return f"0 rows changed: the {period} was already current"
    text = f"{_plural(written, 'row')} written{detail}"
    if unchanged is not None:
        text += f", {_plural(unchanged, 'workspace')} unchanged"
    return text


def hour_line(hour: Any, workspaces: int | None, written: int, metric_rows: int | None,
              user_rows: int | None, rejected: int) -> str:
    """The closing line of ``rollup_hour``."""
    start = _utc(hour)
    head = f"hour {start:%Y-%m-%d %H:%M}-{start + HOUR:%H:%M} UTC: "
    head += "workspaces not counted" if workspaces is None else _plural(workspaces, "workspace")
    detail = ""
    if metric_rows is not None:
        detail = f" ({_n(metric_rows)} metric rows, {_n(user_rows or 0)} user rows, the rest sketches and activity)"
    unchanged = None if workspaces is None or metric_rows is None else max(workspaces - metric_rows, 0)
    return (f"{head}; {written_phrase(written, unchanged, 'hour', detail)}; "
            f"{_plural(rejected, 'run')} rejected")


def period_counts(conn: Connection, grain: str, start: datetime, end: datetime,
                  since: datetime | None = None) -> tuple[int | None, int | None, int]:
    """(workspaces with a row in the period, those whose row was not written since ``since``,
    raw runs rejected in it); (None, None, 0) when they could not be counted."""
    try:
        with transaction(conn) as cur:
            cur.execute(sql("reports/log_period_summary.sql"),
                        {"grain": grain, "start": start, "end": end, "since": since})
            workspaces, unchanged, rejected = one_row(cur)
        return int(workspaces), None if since is None else int(unchanged), int(rejected)
    except Exception:  # a log line is never a reason to fail a rollup
        log.warning("could not count the period's workspaces for the log line", exc_info=True)
        return None, None, 0


def log_hour(written: dict[str, Any]) -> str:
    """``rollup_hour``'s closing line from its task output (``orchestration.tasks.sql_written``:
    ``{"rows_written", "details": {"hour", "metric_rows", "user_rows", "bad_rows"}}``); it opens
    a warehouse connection only to count the hour's workspaces."""
    details = written.get("details", {})
    hour = _utc(details["hour"])
    workspaces = None
    try:
        from agent_warehouse.db import warehouse

        with warehouse() as conn:
            workspaces, _, _ = period_counts(conn, "hour", hour, hour + HOUR)
    except Exception:
        log.warning("could not count the hour's workspaces for the log line", exc_info=True)
    line = hour_line(hour, workspaces, int(written.get("rows_written") or 0), details.get("metric_rows"),
                     details.get("user_rows"), int(details.get("bad_rows") or 0))
    log.info("%s", line)
    return line


def _counter(conn: Connection) -> tuple[int | None, datetime | None]:
    """The session's rows-written counter (migration 0014) and the database's clock."""
    try:
        with transaction(conn) as cur:
            cur.execute(sql("reports/log_counter.sql"))
            written, now = one_row(cur)
        return int(written), now
    except Exception:
        log.warning("could not read the rows-written counter for the log line", exc_info=True)
        return None, None


def _repair_line(result: list[dict[str, Any]], written: int, before: Any) -> str:
    hours = [_hour_label(r["hour"]) for r in result]
    if not hours:
        return f"changed hours before {_hour_label(before)} UTC: none, nothing to repair (0 rows written)"
    shown = ", ".join(hours[:6]) + (f" and {len(hours) - 6} more" if len(hours) > 6 else "")
    rejected = sum(int(r.get("bad_rows") or 0) for r in result)
    wrote = f"{_plural(written, 'row')} written" if written else "0 rows changed: they were already current"
    return (f"changed hours before {_hour_label(before)} UTC: {_plural(len(hours), 'hour')} repaired ({shown}); "
            f"{wrote}; {_plural(rejected, 'run')} rejected in them")


def _hours_phrase(result: dict[str, Any]) -> str:
    repaired, missed = len(result.get("hours_repaired", [])), len(result.get("hours_rolled_up", []))
    return (f"{_plural(repaired, 'changed hour')} repaired, "
            f"{_plural(missed, 'hour')} rolled up that no hourly run had")


def _period_line(conn: Connection, grain: str, key: str, result: dict[str, Any], written: int, period: date,
                 since: datetime | None) -> str:
    rows = {str(r[key]): r for r in result[f"{grain}s"]}
    own = rows.get(period.isoformat(), {})
    start = _utc(period)
    end = start + (DAY if grain == "day" else 7 * DAY)
    workspaces, unchanged, rejected = period_counts(conn, grain, start, end, since)
    label = f"day {period}" if grain == "day" else f"week {period} to {(end - DAY).date()}"
    others = sorted(k for k in rows if k != period.isoformat())
    recomputed = f"; earlier {grain}s recomputed after late data: {', '.join(others)}" if others else ""
    ws = "workspaces not counted" if workspaces is None else _plural(workspaces, "workspace")
    if own.get("kept"):
        return f"{label}: past retention, kept as it is (0 rows written); {_hours_phrase(result)}{recomputed}"
    return (f"{label}: {ws}; {written_phrase(written, unchanged, grain)}; "
            f"{_plural(rejected, 'run')} rejected; {_hours_phrase(result)}{recomputed}")


def _cleanup_line(result: dict[str, Any], written: int) -> str:
    deleted = result.get("deleted", {})
    return (f"retention for {result['today']}: raw runs kept from {result['raw_kept_from']}, "
            f"{_plural(len(result.get('dropped_partitions') or []), 'raw partition')} dropped, "
            f"{_plural(result.get('default_rows_deleted', 0), 'default-partition row')} deleted; "
            f"{_plural(deleted.get('hourly_rows', 0), 'hourly row')}, "
            f"{_plural(deleted.get('rejected_rows', 0), 'rejected-run row')} and "
            f"{_plural(deleted.get('job_runs', 0), 'audit row')} past retention deleted; "
            f"{_plural(len(result.get('hours_repaired', [])), 'hour')} repaired first")


def summarised(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate ``work(conn, period, ...)`` so that it logs its closing line when it returns.
    ``kind``: ``repair`` (hourly.repair), ``day`` (periods.daily), ``week`` (periods.weekly)
    or ``cleanup`` (retention.cleanup)."""

    def wrap(work: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(work)
        def run(conn: Connection, *args: Any, **kwargs: Any) -> Any:
            before, since = _counter(conn)
            result = work(conn, *args, **kwargs)
            try:
                after, _ = _counter(conn)
                written = after - before if before is not None and after is not None else 0
                period = args[0] if args else next(iter(kwargs.values()), None)
                if kind == "repair":
                    line = _repair_line(result, written, period)
                elif kind == "cleanup":
                    line = _cleanup_line(result, written)
                elif period is not None:
                    line = _period_line(conn, kind, "day" if kind == "day" else "week_start", result, written,
                                        period, since)
                else:
                    return result
                log.info("%s", line)
            except Exception:
                log.warning("could not write the closing log line", exc_info=True)
            return result

        return run

    return wrap
