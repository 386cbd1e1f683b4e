"""The daily report: JSON in ``analytics.daily_reports`` and a self-contained HTML page.

The page has inline SVG charts of the last 30 days (executions, failure rate, p95,
credits) and the workspaces that moved most; it is written to ``settings.REPORTS_DIR``
and served by the project's plugin under ``/reports``.
"""

from __future__ import annotations

import html
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from agent_warehouse import settings
from agent_warehouse.db import sql, transaction

WINDOW_DAYS = 30
MOVERS = 10


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
    return {"day": day.isoformat(), "window_start": first.isoformat(), "series": series,
            "today": series[-1], "movers": movers, "health_bands": bands}


def _chart(title: str, points: list[tuple[str, float | None]], fmt: str = "{:,.0f}",
           width: int = 460, height: int = 170) -> str:
    """A line chart as inline SVG (no scripts, no external files)."""
    pad_l, pad_b, pad_t = 56, 22, 24
    values = [v for _, v in points if v is not None]
    top = max(values) if values else 1.0
    top = top if top > 0 else 1.0
    n = max(len(points) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = pad_l + i * (width - pad_l - 8) / n
        y = height - pad_b - v / top * (height - pad_b - pad_t)
        return round(x, 1), round(y, 1)

    path, segment = [], []
    for i, (_, v) in enumerate(points):
        if v is None:
            if segment:
                path.append(segment)
            segment = []
            continue
        segment.append(xy(i, v))
    if segment:
        path.append(segment)
    lines = "".join(
        f'<polyline fill="none" stroke="#2563eb" stroke-width="2" points="{" ".join(f"{x},{y}" for x, y in seg)}"/>'
        for seg in path)
    dots = "".join(f'<circle cx="{x}" cy="{y}" r="2.2" fill="#2563eb"/>' for seg in path for x, y in seg)
    first_label = html.escape(points[0][0]) if points else ""
    last_label = html.escape(points[-1][0]) if points else ""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{html.escape(title)}">'
        f'<text x="{pad_l}" y="15" font-size="13" font-weight="bold">{html.escape(title)}</text>'
        f'<line x1="{pad_l}" y1="{height - pad_b}" x2="{width - 8}" y2="{height - pad_b}" stroke="#999"/>'
        f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{height - pad_b}" stroke="#999"/>'
        f'<text x="{pad_l - 4}" y="{pad_t + 4}" font-size="10" text-anchor="end">{html.escape(fmt.format(top))}</text>'
        f'<text x="{pad_l - 4}" y="{height - pad_b}" font-size="10" text-anchor="end">0</text>'
        f'<text x="{pad_l}" y="{height - 6}" font-size="10">{first_label}</text>'
        f'<text x="{width - 8}" y="{height - 6}" font-size="10" text-anchor="end">{last_label}</text>'
        f"{lines}{dots}</svg>")


def render_html(report: dict[str, Any]) -> str:
    """A self-contained page: inline CSS and SVG, nothing fetched."""
    s = report["series"]
    charts = [
        _chart("Executions", [(p["day"], p["executions"]) for p in s]),
        _chart("Failure rate (%)", [(p["day"], None if p["failure_rate"] is None else 100 * p["failure_rate"])
                                    for p in s], "{:.1f}"),
        _chart("p95 runtime (s)", [(p["day"], p["p95_runtime"]) for p in s], "{:,.1f}"),
        _chart("Credits", [(p["day"], float(p["credits"])) for p in s], "{:,.1f}"),
    ]
    t = report["today"]
    rows = "".join(
        f"<tr><td><code>{html.escape(m['workspace_id'])}</code></td><td>{m['executions_day_before']}</td>"
        f"<td>{m['executions']}</td><td>{m['delta']:+d}</td>"
        f"<td>{'' if m['health_score'] is None else m['health_score']}</td>"
        f"<td>{html.escape(m['health_band'] or '')}</td></tr>"
        for m in report["movers"])
    bands = ", ".join(f"{html.escape(k)}: {v}" for k, v in sorted(report["health_bands"].items())) or "none"
    rate = "n/a" if t["failure_rate"] is None else f"{100 * t['failure_rate']:.2f}%"
    p95 = "n/a" if t["p95_runtime"] is None else f"{t['p95_runtime']:.2f} s"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Agent warehouse — daily report {report['day']}</title>
<style>body{{font-family:system-ui,sans-serif;margin:24px;color:#111}}.grid{{display:flex;flex-wrap:wrap;gap:16px}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ddd;padding:4px 8px;text-align:right}}
.kpi{{display:inline-block;margin-right:28px}}.kpi b{{font-size:20px;display:block}}</style></head>
<body><h1>Daily report — {report['day']}</h1>
<p class="summary"><span class="kpi">Executions<b id="executions">{t['executions']}</b></span>
<span class="kpi">Failure rate<b id="failure-rate">{rate}</b></span>
<span class="kpi">p95 runtime<b id="p95">{p95}</b></span>
<span class="kpi">Credits<b id="credits">{html.escape(str(t['credits']))}</b></span>
<span class="kpi">Workspaces<b id="workspaces">{t['workspaces']}</b></span></p>
<p>Health bands: {bands}</p>
<h2>Last {len(s)} days ({report['window_start']} to {report['day']})</h2>
<div class="grid">{''.join(charts)}</div>
<h2>Workspaces that moved most</h2>
<table><tr><th>workspace</th><th>executions day before</th><th>executions</th><th>change</th>
<th>health score</th><th>band</th></tr>{rows}</table>
</body></html>
"""


def write_daily_report(conn: Any, day: date, reports_dir: str | Path | None = None) -> Path:
    """Store the day's report (one transaction) and write its page; returns the page path."""
    report = build_report(conn, day)
    with transaction(conn) as cur:
        cur.execute(sql("reports/store.sql"), {"day": day, "report": json.dumps(report, sort_keys=True)})
    folder = Path(reports_dir or settings.REPORTS_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / f"daily-{day.isoformat()}.html"
    tmp = page.with_suffix(".tmp")
    tmp.write_text(render_html(report))
    tmp.replace(page)  # readers never see half a page
    _write_index(folder)
    return page


def _write_index(folder: Path) -> None:
    pages = sorted(folder.glob("daily-*.html"), reverse=True)
    items = "".join(f'<li><a href="{p.name}">{p.stem.removeprefix("daily-")}</a></li>' for p in pages)
    tmp = folder / "index.tmp"
    tmp.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>Daily reports</title></head>"
                   f"<body><h1>Daily reports</h1><ul>{items}</ul></body></html>")
    tmp.replace(folder / "index.html")
