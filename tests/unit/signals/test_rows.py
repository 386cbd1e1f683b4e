"""Provider rows: what is stored, and the reason a malformed row is set aside with (no database)."""

import pytest

from agent_warehouse.signals.validation import Malformed, rejection, validate

OK = {"external_id": "e-1", "company": " Acme ", "signal_type": "Hiring",
      "observed_at": "2026-01-05T08:00:00+01:00", "value": "3"}


def test_a_good_row_is_cleaned():
    clean, reason = validate(dict(OK, extra="ignored"))
    assert reason is None
    assert clean == {"external_id": "e-1", "company": "Acme", "signal_type": "hiring",
                     "observed_at": "2026-01-05T07:00:00Z", "value": 3.0}  # stored in UTC


@pytest.mark.parametrize(("row", "reason"), [
    ("not a row", "not_an_object"),
    (Malformed("invalid_json", {"line": 3}), "invalid_json"),
    (dict(OK, external_id="  "), "missing_external_id"),
    ({k: v for k, v in OK.items() if k != "external_id"}, "missing_external_id"),
    (dict(OK, company=""), "missing_company"),
    (dict(OK, company="x" * 201), "company_too_long"),
    (dict(OK, signal_type="rumour"), "unknown_signal_type"),
    (dict(OK, observed_at="yesterday"), "invalid_observed_at"),
    (dict(OK, observed_at=1767600000), "invalid_observed_at"),
    (dict(OK, observed_at="2026-01-05T08:00:00"), "observed_at_without_timezone"),
    (dict(OK, value="lots"), "invalid_value"),
    (dict(OK, value=float("inf")), "invalid_value"),
    (dict(OK, external_id="", value="lots"), "missing_external_id"),  # the first bad field decides
])
def test_a_malformed_row_has_its_reason(row, reason):
    assert validate(row) == (None, reason)


def test_a_rejected_payload_is_valid_json_for_jsonb():
    rejected = rejection("invalid_value", dict(OK, value=float("nan")))
    assert rejected["payload"]["value"] == "NaN"
    assert rejection("not_an_object", "text")["payload"] == {"row": "text"}
