"""Which days a recomputed day rescores (no database)."""

from datetime import date, timedelta

from agent_warehouse.rollups import health


def test_a_recomputed_day_rescores_the_week_after_it():
    d = date(2026, 1, 1)
    assert health.days_to_score([d, date(2026, 1, 9)], upto=date(2026, 1, 10)) == [
        d + timedelta(days=k) for k in range(10)]
    assert health.days_to_score([date(2026, 1, 10)], upto=date(2026, 1, 10)) == [date(2026, 1, 10)]
