"""The daily report: JSON in ``analytics.daily_reports`` and a self-contained HTML page.

The page (Jinja2 templates in ``templates/``) has inline SVG charts drawn server-side:
the day's executions and failure rate per hour, credits by workspace and health bands,
the last 30 days' executions, failure rate, p95 and credits, and the workspaces that moved
most. It is written to ``settings.REPORTS_DIR`` and served, behind the Airflow login, by
the project's plugin under ``/reports``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from agent_warehouse import settings
from agent_warehouse.db import sql, transaction

WINDOW_DAYS = 30
MOVERS = 10
TOP_CREDITS = 10


def build_report(conn: Any, day: date) -> dict[str, Any]:
    """The report for ``day`` from the daily rollups and health scores (no raw rows)."""
    first = day - timedelta(days=WINDOW_DAYS - 1)
    with transaction(conn) as cur:
        cur.execute(sql("reports/daily_series.sql"), {"first": first, "day": day})
        series = [
            {"day": d, "executions": ex, "successful": ok, "failed": failed,
             "failure_rate": failed / ex if ex else None, "credits": credits,
             "workspaces": ws, "p95_runtime": p95}
            for d, ex, ok, failed, credits, ws, p95 in cur.fetchall()
        ]
        cur.execute(sql("reports/movers.sql"), {"day": day, "limit": MOVERS})
        movers = [{"workspace_id": w, "executions": t, "executions_day_before": b, "delta": delta,
                   "health_score": score, "health_band": band}
                  for w, t, b, delta, score, band in cur.fetchall()]
        cur.execute(sql("reports/bands.sql"), {"day": day})
        bands = dict(cur.fetchall())
        cur.execute(sql("reports/hourly_series.sql"), {"day": day})
        hours = [{"hour": h, "executions": ex, "failed": failed, "failure_rate": failed / ex if ex else None}
                 for h, ex, failed in cur.fetchall()]
        cur.execute(sql("reports/credits_by_workspace.sql"), {"day": day, "limit": TOP_CREDITS})
        credits = [{"workspace_id": w, "credits": c, "executions": ex} for w, c, ex in cur.fetchall()]
    return {"day": day.isoformat(), "window_start": first.isoformat(), "series": series,
            "today": series[-1], "movers": movers, "health_bands": bands, "hours": hours,
            "credits_by_workspace": credits}


def line_chart(title: str, points: list[tuple[str, float | None]], fmt: str = "{:,.0f}",
               width: int = 460, height: int = 170) -> dict[str, Any]:
    """The geometry of a line chart (the template draws it as inline SVG); None breaks the line."""
    pad_l, pad_b, pad_t = 56, 22, 24
    values = [v for _, v in points if v is not None]
    top = max(values, default=0.0) or 1.0
    n = max(len(points) - 1, 1)
    segments: list[list[tuple[float, float]]] = [[]]
    for i, (_, v) in enumerate(points):
        if v is None:
            segments.append([])
            continue
        x = pad_l + i * (width - pad_l - 8) / n
        y = height - pad_b - v / top * (height - pad_b - pad_t)
        segments[-1].append((round(x, 1), round(y, 1)))
    return {"kind": "line", "title": title, "width": width, "height": height, "left": pad_l,
            "bottom": height - pad_b, "top_y": pad_t, "top": fmt.format(top),
            "first": points[0][0] if points else "", "last": points[-1][0] if points else "",
            "segments": [seg for seg in segments if seg]}


def bar_chart(title: str, bars: list[tuple[str, float]], fmt: str = "{:,.0f}", width: int = 460,
              height: int = 170, colors: dict[str, str] | None = None, labels: bool = False) -> dict[str, Any]:
    """The geometry of a bar chart (drawn by the template as inline SVG)."""
    pad_l, pad_b, pad_t = 56, 22, 24
    top = max((v for _, v in bars), default=0.0) or 1.0
    slot = (width - pad_l - 8) / max(len(bars), 1)
    drawn = []
    for i, (label, v) in enumerate(bars):
        h = v / top * (height - pad_b - pad_t)
        drawn.append({"x": round(pad_l + i * slot + slot * 0.1, 1), "y": round(height - pad_b - h, 1),
                      "w": round(slot * 0.8, 1), "h": round(h, 1), "label": label, "value": fmt.format(v),
                      "color": (colors or {}).get(label, "#2563eb")})
    return {"kind": "bar", "title": title, "width": width, "height": height, "left": pad_l,
            "bottom": height - pad_b, "top_y": pad_t, "top": fmt.format(top), "bars": drawn,
            "labels": labels, "first": bars[0][0] if bars else "", "last": bars[-1][0] if bars else ""}


BAND_COLORS = {"healthy": "#16a34a", "watch": "#ca8a04", "at_risk": "#dc2626", "critical": "#7f1d1d"}


@cache
def _templates() -> Any:
    """Jinja2 with autoescaping: every value from the warehouse is escaped by the template."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(loader=PackageLoader("agent_warehouse.reports", "templates"),
                       autoescape=select_autoescape(default=True, default_for_string=True),
                       trim_blocks=True, lstrip_blocks=True)


def charts(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The page's charts: the day by hour, the trend over the window, the day's breakdowns."""
    s = report["series"]
    hours = report.get("hours", [])
    return {
        "day": [
            bar_chart("Executions per hour (UTC)", [(h["hour"], h["executions"]) for h in hours]),
            line_chart("Failure rate per hour (%)", [(h["hour"], None if h["failure_rate"] is None
                                                     else 100 * h["failure_rate"]) for h in hours], "{:.1f}"),
            bar_chart("Credits by workspace (top)", [(c["workspace_id"][:8], float(c["credits"]))
                                                     for c in report.get("credits_by_workspace", [])],
                      "{:,.1f}"),
            bar_chart("Health bands (workspaces)", sorted(report["health_bands"].items()),
                      colors=BAND_COLORS, labels=True),
        ],
        "trend": [
            line_chart("Executions", [(p["day"], p["executions"]) for p in s]),
            line_chart("Failure rate (%)", [(p["day"], None if p["failure_rate"] is None
                                            else 100 * p["failure_rate"]) for p in s], "{:.1f}"),
            line_chart("p95 runtime (s)", [(p["day"], p["p95_runtime"]) for p in s], "{:,.1f}"),
            line_chart("Credits", [(p["day"], float(p["credits"])) for p in s], "{:,.1f}"),
        ],
    }


def render_html(report: dict[str, Any]) -> str:
    """A self-contained page: inline CSS and SVG, nothing fetched."""
    return _templates().get_template("daily.html.j2").render(report=report, charts=charts(report))


def write_daily_report(conn: Any, day: date, reports_dir: str | Path | None = None) -> Path:
    """Store the day's report (one transaction) and write its page; returns the page path."""
    report = build_report(conn, day)
    with transaction(conn) as cur:
        cur.execute(sql("reports/store.sql"), {"day": day, "report": json.dumps(report, sort_keys=True)})
    folder = Path(reports_dir or settings.REPORTS_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / f"daily-{day.isoformat()}.html"
    write_atomically(page, render_html(report))
    _write_index(folder)
    return page


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` in one step: readers see the old file or the new one,
    never half of one. The temporary file has a name of its own (several runs of one day,
    a backfill beside the scheduled run, may write the same page at once) and is hidden
    from the index's ``daily-*.html`` pattern."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the page is served by another process
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _write_index(folder: Path) -> None:
    """The index of every page, written under a lock on the folder: the last writer lists
    the pages every earlier one had written, so no page drops out of it."""
    with open(folder / ".index.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        days = [p.stem.removeprefix("daily-") for p in sorted(folder.glob("daily-*.html"), reverse=True)]
        write_atomically(folder / "index.html", _templates().get_template("index.html.j2").render(days=days))
