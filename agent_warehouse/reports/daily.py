"""The daily report: JSON in ``analytics.daily_reports`` and a self-contained HTML page.

The page (Jinja2 templates in ``templates/``) has inline SVG charts drawn server-side:
the day's executions and failure rate per hour, credits by workspace and health bands,
the last 30 days' executions, failure rate, p95 and credits, and the workspaces that moved
most. It is written to the ``reports_dir`` setting and served, behind the Airflow login, by
the project's plugin under ``/reports``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import tempfile
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_warehouse import settings
from agent_warehouse.db import sql, transaction

if TYPE_CHECKING:
    from agent_warehouse.db import Connection

WINDOW_DAYS = 30
MOVERS = 10
TOP_CREDITS = 10


def build_report(conn: Connection, day: date) -> dict[str, Any]:
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
    from agent_warehouse.checks.report import day_checks, report_items  # the self-checks

    checks = day_checks(conn, day)

    return {"day": day.isoformat(), "window_start": first.isoformat(), "series": series,
            "today": series[-1], "movers": movers, "health_bands": bands, "hours": hours,
            "credits_by_workspace": credits, "checks": checks,
            "incidents": report_items(checks)}


# ------------------------------------------------------------------ numbers as people read them
def fmt_number(value: Any, decimals: int | None = None) -> str:
    """Thousands separators and sensible decimals: whole numbers as they are, others with
    2 decimals below 10, 1 below 100 and none above (``decimals`` forces a count)."""
    if value is None:
        return "n/a"
    v = float(value)
    if math.isnan(v) or math.isinf(v):
        return "n/a"
    if decimals is None:
        if v == int(v) and abs(v) < 1e15:
            decimals = 0
        else:
            decimals = 2 if abs(v) < 10 else 1 if abs(v) < 100 else 0
    return f"{v:,.{decimals}f}"


def fmt_signed(value: Any) -> str:
    """A change with its sign: "+1,234", "-56", "0"."""
    return "0" if not value else ("+" if value > 0 else "-") + fmt_number(abs(value))


def fmt_percent(fraction: Any) -> str:
    """A share (0.0821) as a percentage ("8.2%"); two decimals below 1%."""
    if fraction is None:
        return "n/a"
    pct = 100 * float(fraction)
    return f"{pct:.2f}%" if 0 < abs(pct) < 1 else f"{pct:.1f}%"


def fmt_seconds(seconds: Any) -> str:
    """A duration in seconds ("63.4 s", "1,250 s")."""
    return "n/a" if seconds is None else f"{fmt_number(seconds)} s"


def fmt_compact(value: float) -> str:
    """Axis ticks: 0, 250, 1.5k, 12k, 3M."""
    v = abs(value)
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= scale:
            return f"{value / scale:,.1f}".removesuffix(".0") + suffix
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value):,}"


def short_id(workspace_id: Any) -> str:
    """The workspace's short label: the schema has no workspace names, so the first 8 hex
    digits of its id (stable; the full id goes in a title attribute)."""
    return str(workspace_id)[:8]


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """Ticks from 0 in round steps (1, 2, 2.5 or 5 times a power of ten), the last at or
    above ``top``: the y axis of every chart."""
    top = top if top > 1e-9 else 1.0  # nothing (or next to nothing) to draw: a 0 to 1 axis
    magnitude = 10 ** math.floor(math.log10(top / count))
    # the smallest round step that needs at most count + 1 intervals
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10, 20) if math.ceil(top / (m * magnitude) - 1e-9) <= count + 1)
    return [round(i * step, 10) for i in range(math.ceil(top / step - 1e-9) + 1)]


def every_nth(n: int, most: int) -> int:
    """Label every k-th of ``n`` positions so that at most ``most`` labels show."""
    return max(1, math.ceil(n / most))


# ------------------------------------------------------------------ chart geometry (SVG drawn by the template)
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 52, 12, 30, 40


def _frame(title: str, unit: str, width: int, height: int, top: float) -> dict[str, Any]:
    """What every chart shares: the plot area and the y axis with its ticks and gridlines."""
    bottom, plot_top = height - PAD_BOTTOM, PAD_TOP
    ticks = nice_ticks(top)
    scale_top = ticks[-1] or 1.0

    def y_of(v: float) -> float:
        return round(bottom - v / scale_top * (bottom - plot_top), 1)

    return {"title": title, "unit": unit, "width": width, "height": height, "left": PAD_LEFT,
            "right": width - PAD_RIGHT, "bottom": bottom, "top_y": plot_top,
            "y_ticks": [{"y": y_of(t), "label": fmt_compact(t)} for t in ticks], "_y": y_of}


def line_chart(title: str, points: list[tuple[str, float | None]], fmt: Any = fmt_number, unit: str = "",
               x_title: str = "", tick_label: Any = None, width: int = 460, height: int = 190) -> dict[str, Any]:
    """A line chart's geometry; None breaks the line. Every point has a tooltip, the y axis
    round ticks and the x axis at most 8 labels (``tick_label`` shortens them)."""
    values = [v for _, v in points if v is not None]
    frame = _frame(title, unit, width, height, max(values, default=0.0))
    y_of = frame.pop("_y")
    n = len(points)
    span = frame["right"] - frame["left"]

    def x_of(i: int) -> float:
        return round(frame["left"] + (i * span / (n - 1) if n > 1 else span / 2), 1)

    segments: list[list[tuple[float, float]]] = [[]]
    dots = []
    for i, (label, v) in enumerate(points):
        if v is None:
            segments.append([])
            continue
        segments[-1].append((x_of(i), y_of(v)))
        dots.append({"x": x_of(i), "y": y_of(v), "label": label, "value": fmt(v)})
    k = every_nth(n, 8)
    return {**frame, "kind": "line", "x_title": x_title, "points": dots,
            "segments": [seg for seg in segments if seg],
            "x_ticks": [{"x": x_of(i), "label": (tick_label or str)(label)}
                        for i, (label, _) in enumerate(points) if i % k == 0]}


def bar_chart(title: str, bars: list[tuple[str, float]], fmt: Any = fmt_number, unit: str = "",
              x_title: str = "", colors: dict[str, str] | None = None, tick_label: Any = None,
              width: int = 460, height: int = 190) -> dict[str, Any]:
    """A vertical bar chart's geometry: a tooltip and a value on each bar, round y ticks,
    at most 12 x labels."""
    frame = _frame(title, unit, width, height, max((v for _, v in bars), default=0.0))
    y_of = frame.pop("_y")
    slot = (frame["right"] - frame["left"]) / max(len(bars), 1)
    k = every_nth(len(bars), 12)
    drawn = []
    for i, (label, v) in enumerate(bars):
        y = y_of(v)
        drawn.append({"x": round(frame["left"] + i * slot + slot * 0.12, 1), "y": y,
                      "w": round(slot * 0.76, 1), "h": round(frame["bottom"] - y, 1),
                      "cx": round(frame["left"] + (i + 0.5) * slot, 1), "label": label, "value": fmt(v),
                      "tick": (tick_label or str)(label) if i % k == 0 else None,
                      "color": (colors or {}).get(label, "#2563eb")})
    return {**frame, "kind": "bar", "x_title": x_title, "bars": drawn, "show_values": len(bars) <= 6}


def hbar_chart(title: str, bars: list[tuple[str, str, float]], fmt: Any = fmt_number, unit: str = "",
               width: int = 460, row: int = 17) -> dict[str, Any]:
    """A horizontal bar chart (label, full name for the tooltip, value), largest first: the
    labels are read at the left, the values at the end of each bar."""
    left, right, top = 70, width - 64, 30
    most = max((v for _, _, v in bars), default=0.0) or 1.0
    drawn = [{"y": top + i * row, "h": row - 4, "w": round(max(v, 0) / most * (right - left), 1),
              "label": label, "name": name, "value": fmt(v)} for i, (label, name, v) in enumerate(bars)]
    return {"kind": "hbar", "title": title, "unit": unit, "width": width,
            "height": top + max(len(bars), 1) * row + 8, "left": left, "right": right, "bars": drawn}


def day_label(day: str) -> str:
    """'2026-01-05' as the x axis shows it: 'Jan 5'."""
    d = date.fromisoformat(day)
    return f"{d:%b} {d.day}"


def trend_series(series: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The window's days from the first with runs on: a warehouse younger than the window
    has its charts start where its data starts, not with weeks of zeros."""
    first = next((i for i, p in enumerate(series) if p["executions"]), len(series) - 1)
    return series[max(first, 0):]


# In the order a reader scans them, best first.
BAND_COLORS = {"healthy": "#16a34a", "watch": "#ca8a04", "at_risk": "#dc2626", "critical": "#7f1d1d"}


@cache
def _templates() -> Any:
    """Jinja2 with autoescaping: every value from the warehouse is escaped by the template."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("agent_warehouse.reports", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=fmt_number, pct=fmt_percent, secs=fmt_seconds, short_id=short_id, signed=fmt_signed,
                       weekday=lambda d: f"{date.fromisoformat(d):%A}")
    return env


def charts(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The page's charts: the day by hour, the trend over the window, the day's breakdowns."""
    s = trend_series(report["series"])
    hours = report.get("hours", [])
    bands = report["health_bands"]
    ordered = [b for b in BAND_COLORS if b in bands] + sorted(b for b in bands if b not in BAND_COLORS)
    return {
        "day": [
            bar_chart("Executions per hour (UTC)", [(h["hour"], h["executions"]) for h in hours],
                      unit="runs", x_title="hour (UTC)", tick_label=lambda h: h[:2]),
            line_chart("Failure rate per hour (%)", [(h["hour"], None if h["failure_rate"] is None
                                                     else 100 * h["failure_rate"]) for h in hours],
                       lambda v: f"{v:.1f}%", unit="%", x_title="hour (UTC)", tick_label=lambda h: h[:2]),
            hbar_chart("Credits by workspace (top)", [(short_id(c["workspace_id"]), c["workspace_id"],
                                                       float(c["credits"]))
                                                      for c in report.get("credits_by_workspace", [])],
                       unit="credits"),
            bar_chart("Health bands (workspaces)", [(b, bands[b]) for b in ordered], unit="workspaces",
                      colors=BAND_COLORS, tick_label=lambda b: b.replace("_", " ")),
        ],
        "trend": [
            line_chart("Executions", [(p["day"], p["executions"]) for p in s], unit="runs per day",
                       tick_label=day_label),
            line_chart("Failure rate (%)", [(p["day"], None if p["failure_rate"] is None
                                            else 100 * p["failure_rate"]) for p in s],
                       lambda v: f"{v:.1f}%", unit="%", tick_label=day_label),
            line_chart("p95 runtime (s)", [(p["day"], p["p95_runtime"]) for p in s], fmt_seconds,
                       unit="seconds", tick_label=day_label),
            line_chart("Credits", [(p["day"], float(p["credits"])) for p in s], unit="credits per day",
                       tick_label=day_label),
        ],
    }


def kpis(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The headline numbers, formatted, each with its change from the day before."""
    series = report["series"]
    today = report["today"]
    before = series[-2] if len(series) > 1 and series[-2]["executions"] else None

    def change(key: str, as_points: bool = False) -> str | None:
        if before is None or today.get(key) is None or before.get(key) is None:
            return None
        now, then = float(today[key]), float(before[key])
        if as_points:
            return f"{100 * (now - then):+.1f} pts vs day before"
        return None if not then else f"{100 * (now - then) / then:+.1f}% vs day before"

    return [
        {"id": "executions", "label": "Executions", "value": fmt_number(today["executions"]),
         "change": change("executions")},
        {"id": "failure-rate", "label": "Failure rate", "value": fmt_percent(today["failure_rate"]),
         "change": change("failure_rate", as_points=True)},
        {"id": "p95", "label": "p95 runtime", "value": fmt_seconds(today["p95_runtime"]),
         "change": change("p95_runtime")},
        {"id": "credits", "label": "Credits", "value": fmt_number(Decimal(str(today["credits"]))),
         "change": change("credits")},
        {"id": "workspaces", "label": "Active workspaces", "value": fmt_number(today["workspaces"]),
         "change": None},
    ]


def render_html(report: dict[str, Any], incidents: list[dict[str, Any]] | None = None) -> str:
    """A self-contained page: inline CSS and SVG, nothing fetched. ``incidents`` (the day's
    incidents and anomalies, each ``{"when", "kind", "summary"}`` and optionally
    ``"workspace_id"`` and ``"run_url"``) are listed at the top; none gives an empty list."""
    return _templates().get_template("daily.html.j2").render(
        report=report, charts=charts(report), kpis=kpis(report),
        trend_days=len(trend_series(report["series"])),
        incidents=incidents if incidents is not None else report.get("incidents", []))


def write_daily_report(conn: Connection, day: date, reports_dir: str | Path | None = None) -> Path:
    """Store the day's report (one transaction) and write its page; returns the page path."""
    report = build_report(conn, day)
    with transaction(conn) as cur:
        cur.execute(sql("reports/store.sql"), {"day": day, "report": json.dumps(report, sort_keys=True)})
    folder = Path(reports_dir or settings.current().reports_dir)
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
