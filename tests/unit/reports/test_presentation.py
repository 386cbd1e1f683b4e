"""The daily report's presentation: numbers as people read them, chart geometry whose every
value can be read, and the closing log line of a rollup task."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from agent_warehouse.reports import daily, log_lines


def test_numbers_have_thousands_separators_and_sensible_decimals():
    assert daily.fmt_number(300000) == "300,000"
    assert daily.fmt_number(27562.1908) == "27,562"
    assert daily.fmt_number(63.44) == "63.4"
    assert daily.fmt_number(2.345) == "2.35"
    assert daily.fmt_number(None) == "n/a"
    assert daily.fmt_percent(0.0821) == "8.2%"
    assert daily.fmt_percent(0.004) == "0.40%"
    assert daily.fmt_seconds(1250.4) == "1,250 s"
    assert daily.fmt_compact(12000) == "12k" and daily.fmt_compact(1500) == "1.5k"
    assert daily.fmt_compact(2.5) == "2.5" and daily.fmt_compact(0) == "0"
    assert daily.short_id("eaa5aa85-1c69-55ba-9446-9fe495011776") == "eaa5aa85"


@given(st.floats(min_value=1e-6, max_value=1e12, allow_nan=False))
def test_y_ticks_start_at_zero_cover_the_top_in_round_steps(top):
    ticks = daily.nice_ticks(top)
    assert ticks[0] == 0 and ticks[-1] >= top * (1 - 1e-9)
    assert 2 <= len(ticks) <= 6
    step = ticks[1]
    mantissa = step / 10 ** __import__("math").floor(__import__("math").log10(step))
    assert any(abs(mantissa - m) < 1e-6 for m in (1, 2, 2.5, 5, 10))


@given(st.lists(st.one_of(st.none(), st.floats(min_value=0, max_value=1e9)), min_size=1, max_size=60))
def test_every_point_is_readable_inside_the_plot(values):
    points = [(f"2026-01-{i % 28 + 1:02d}", v) for i, v in enumerate(values)]
    c = daily.line_chart("t", points, unit="runs", tick_label=daily.day_label)
    assert len(c["points"]) == sum(v is not None for v in values)  # a tooltip per value
    assert all(c["left"] <= p["x"] <= c["right"] and c["top_y"] <= p["y"] <= c["bottom"] for p in c["points"])
    assert 1 <= len(c["x_ticks"]) <= 8 and c["x_ticks"][0]["label"] == daily.day_label(points[0][0])
    assert len(c["y_ticks"]) >= 2 and c["y_ticks"][0]["label"] == "0"


def test_bars_have_ticks_tooltips_and_values():
    c = daily.bar_chart("Executions per hour (UTC)", [(f"{h:02d}:00", 100 * h) for h in range(24)],
                        tick_label=lambda h: h[:2])
    assert [b["tick"] for b in c["bars"] if b["tick"]] == [f"{h:02d}" for h in range(0, 24, 2)]
    assert c["bars"][23]["value"] == "2,300" and [t["label"] for t in c["y_ticks"]][-1] == "2.5k"


def test_the_trend_starts_where_the_data_starts():
    series = [{"day": f"2026-01-{d:02d}", "executions": 0 if d < 20 else 5} for d in range(1, 31)]
    assert daily.trend_series(series)[0]["day"] == "2026-01-20"
    empty = [{"day": "2026-01-01", "executions": 0}, {"day": "2026-01-02", "executions": 0}]
    assert daily.trend_series(empty) == empty[-1:]


def test_a_rollup_hour_that_wrote_nothing_says_why():
    hour = datetime(2026, 1, 5, 9, tzinfo=UTC)
    line = log_lines.hour_line(hour, 200, 0, 0, 0, 0)
    assert line == ("hour 2026-01-05 09:00-10:00 UTC: 200 workspaces; 0 rows changed: the hour was already "
                    "current; 0 runs rejected")
    line = log_lines.hour_line("2026-01-05T09:00:00Z", 200, 3887, 190, 3287, 12)
    assert "3,887 rows written (190 metric rows, 3,287 user rows" in line
    assert "10 workspaces unchanged" in line and line.endswith("12 runs rejected")
