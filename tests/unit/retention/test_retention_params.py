"""Retention.from_params: the cleanup run's params over the settings, without a database."""

from __future__ import annotations

from datetime import date

import pytest

from agent_warehouse.retention.cleanup import Retention


def test_defaults_are_the_settings():
    assert Retention.from_params(None) == Retention()
    assert Retention.from_params({"raw_days": None}) == Retention()


def test_params_override_and_are_read_as_integers():
    r = Retention.from_params({"raw_days": "7", "hourly_days": 30, "job_runs_days": 10})
    assert (r.raw_days, r.hourly_days, r.job_runs_days) == (7, 30, 10)


@pytest.mark.parametrize(("params", "message"), [
    ({"raw_days": 0}, "raw_days must be at least 1"),
    ({"raw_days": -5, "hourly_days": 10}, "raw_days must be at least 1"),
    ({"raw_days": 30, "hourly_days": 29}, "hourly_days must be at least raw_days"),
])
def test_refuses_params_that_would_drop_rollups_before_raw_rows(params, message):
    with pytest.raises(ValueError, match=message):
        Retention.from_params(params)


def test_horizons_count_back_from_the_run_day():
    h = Retention(raw_days=90, hourly_days=400, job_runs_days=400).horizons(date(2026, 12, 4))
    assert h == {"raw_kept_from": date(2026, 9, 5), "hourly_kept_from": date(2025, 10, 30),
                 "job_runs_kept_from": date(2025, 10, 30)}
