"""Any line a provider delivers (issue 17 §2), property-based: the file provider's parsing and
the validation never raise on any bytes, a valid line is always accepted as it was meant,
an invalid one is always rejected with the reason of its bad field, and what is kept of a
rejected line is storable in PostgreSQL's jsonb.

Examples per test: SIGNALS_PROPERTY_EXAMPLES (default 60; e.g. 2000 for a long run).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_warehouse.signals import ingest

EXAMPLES = int(os.environ.get("SIGNALS_PROPERTY_EXAMPLES", "60"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                                 HealthCheck.data_too_large])
START, END = datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 6, tzinfo=UTC)
TYPES = ("hiring", "funding", "traffic", "product_launch", "mention")
COLUMNS = ("external_id", "company", "signal_type", "observed_at", "value")
FROM, UNTIL = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)  # docs/signals.md
# Every reason docs/signals.md lists, for lines and for files refused whole.
REASONS = {
    "invalid_utf8", "line_too_long", "too_deeply_nested", "invalid_json", "invalid_csv", "wrong_field_count",
    "not_an_object", "missing_external_id", "invalid_external_id", "external_id_too_long",
    "external_id_invalid_characters", "missing_company", "invalid_company", "company_too_long",
    "company_invalid_characters", "unknown_signal_type", "invalid_observed_at", "observed_at_without_timezone",
    "observed_at_out_of_range", "invalid_value", "value_out_of_range",
    "not_a_regular_file", "file_too_large", "invalid_csv_header",
}


def read(kind: str, content: bytes) -> list:
    """The records the file provider reads from one file of ``content``."""
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / f"drop.{kind}").write_bytes(content)
        return list(ingest.FileProvider(folder).fetch(START, END))


# -- valid lines ---------------------------------------------------------------------------

EDGE = st.sampled_from("abcXYZ019")
INNER = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=40)


def padded(core: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[str, str]]:
    """(text as delivered, text as stored): the core, maybe between spaces."""
    return st.tuples(st.sampled_from(["", " ", "  "]), core, st.sampled_from(["", " "])).map(
        lambda t: (t[0] + t[1] + t[2], t[1]))


def core(max_chars: int) -> st.SearchStrategy[str]:
    return st.one_of(
        EDGE,
        st.tuples(EDGE, INNER, EDGE).map(lambda t: "".join(t)[:max_chars - 1] + t[2]),
        st.integers(1, max_chars).map(lambda n: "é" * (n - 1) + "x"),  # up to the limit, multibyte
    )


OFFSETS = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))


@st.composite
def observed(draw, low=FROM + timedelta(days=2), high=UNTIL - timedelta(days=2)) -> tuple[str, datetime]:
    instant = draw(st.datetimes(min_value=low.replace(tzinfo=None), max_value=high.replace(tzinfo=None)))
    instant = instant.replace(tzinfo=UTC)
    local = instant.astimezone(draw(OFFSETS))
    text = local.isoformat(sep=draw(st.sampled_from(["T", " "])))
    if local.utcoffset() == timedelta(0) and draw(st.booleans()):
        text = text.replace("+00:00", "Z")
    return text, instant


FINITE = st.floats(min_value=-1e15, max_value=1e15, allow_nan=False)


@st.composite
def valid_rows(draw) -> tuple[dict, dict]:
    """(row as delivered, the clean row expected)."""
    external_id, stored_id = draw(padded(core(256)))
    company, stored_company = draw(padded(core(200)))
    signal_type = draw(st.sampled_from(TYPES))
    delivered_type = draw(st.sampled_from([signal_type, signal_type.upper(), f" {signal_type.title()} "]))
    observed_at, instant = draw(observed())
    value = draw(FINITE)
    delivered_value = draw(st.sampled_from([value, repr(value)]))
    row = {"external_id": external_id, "company": company, "signal_type": delivered_type,
           "observed_at": observed_at, "value": delivered_value}
    return row, {"external_id": stored_id, "company": stored_company, "signal_type": signal_type,
                 "observed_at": instant, "value": value}


def as_jsonl(rows: list[dict]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def as_csv(rows: list[dict], *, crlf: bool = False) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n" if crlf else "\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows({k: r.get(k, "") for k in COLUMNS} for r in rows)
    return out.getvalue().encode("utf-8", "surrogatepass")


def accepted(record) -> dict:
    clean, reason = ingest.validate(record)
    assert reason is None and clean is not None, (reason, record)
    return clean


@SETTINGS
@given(st.lists(valid_rows(), min_size=1, max_size=8), st.sampled_from(["jsonl", "csv"]), st.booleans(),
       st.booleans())
def test_a_valid_line_is_always_accepted_as_meant(rows, kind, bom, crlf):
    content = as_jsonl([r for r, _ in rows]) if kind == "jsonl" else as_csv([r for r, _ in rows], crlf=crlf)
    if crlf and kind == "jsonl":
        content = content.replace(b"\n", b"\r\n")
    records = read(kind, (b"\xef\xbb\xbf" if bom else b"") + content)
    assert len(records) == len(rows)
    for record, (_, expected) in zip(records, rows, strict=True):
        clean = accepted(record)
        assert {k: clean[k] for k in ("external_id", "company", "signal_type")} == {
            k: expected[k] for k in ("external_id", "company", "signal_type")}
        # Stored in UTC (PostgreSQL refuses offsets beyond 15:59), the same instant.
        assert clean["observed_at"].endswith("Z")
        assert datetime.fromisoformat(clean["observed_at"]) == expected["observed_at"]
        assert clean["value"] == expected["value"]


# -- invalid lines -------------------------------------------------------------------------

BAD_CHAR = st.sampled_from(["\x00", "\x01", "\x1f", "\x7f", "\x9b", "\t", "\n"])


def with_char(text: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(text, BAD_CHAR, text).map(lambda t: "a" + "".join(t) + "z")


def out_of_range() -> st.SearchStrategy[str]:
    def text(pair):
        naive, offset = pair
        return naive.isoformat() + offset

    offsets = st.sampled_from(["+00:00", "Z", "+05:00", "-05:00", "+23:59", "-23:59", "+15:30"])
    early = st.datetimes(max_value=datetime(1999, 12, 30))
    late = st.datetimes(min_value=datetime(2100, 1, 2))
    return st.tuples(st.one_of(early, late), offsets).map(text)


# (field, strategy of bad values, reason); None as the value: the field is left out.
BAD_FIELDS = [
    ("external_id", st.just(None), "missing_external_id"),
    ("external_id", st.sampled_from(["", " ", "   "]), "missing_external_id"),
    ("external_id", st.integers(257, 4000).map(lambda n: "e" * n), "external_id_too_long"),
    ("external_id", with_char(INNER), "external_id_invalid_characters"),
    ("company", st.just(None), "missing_company"),
    ("company", st.integers(201, 4000).map(lambda n: "C" * n), "company_too_long"),
    ("company", with_char(INNER), "company_invalid_characters"),
    ("signal_type", st.text(max_size=20).filter(lambda s: s.strip().lower() not in TYPES), "unknown_signal_type"),
    ("observed_at", out_of_range(), "observed_at_out_of_range"),
    ("observed_at", st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30)).map(
        lambda d: d.isoformat()), "observed_at_without_timezone"),
    ("observed_at", st.one_of(st.sampled_from(["yesterday", "1767600000", "", "2026-01-05", "infinity",
                                               "2026-13-01T00:00Z", "0000-01-01T00:00Z"]),
                              st.text(alphabet="0123456789", min_size=1, max_size=12)),
     "invalid_observed_at"),
    ("value", st.one_of(st.floats(min_value=1.0000001e15, allow_infinity=False),
                        st.floats(max_value=-1.0000001e15, allow_infinity=False)), "value_out_of_range"),
    ("value", st.sampled_from(["lots", "", "1,5", "inf", "-Infinity", "nan", "0x10"]), "invalid_value"),
]
JSON_ONLY = [  # values CSV cannot carry
    ("company", st.sampled_from(["\ud800", "a\udfffb"]), "company_invalid_characters"),
    ("value", st.sampled_from([float("nan"), float("inf"), float("-inf"), True, [1], {"v": 1}]), "invalid_value"),
    ("observed_at", st.sampled_from([1767600000, None, [2026, 1, 5]]), "invalid_observed_at"),
    ("external_id", st.sampled_from([[], {}, None]), "missing_external_id"),
]


@st.composite
def invalid_rows(draw, kind: str) -> tuple[dict, str]:
    row, _ = draw(valid_rows())
    field, values, reason = draw(st.sampled_from(BAD_FIELDS + (JSON_ONLY if kind == "jsonl" else [])))
    value = draw(values)
    if kind == "csv" and isinstance(value, str):  # a CSV record is one line: CR ends one too
        value = value.replace("\n", "\t").replace("\r", "\t")
    if value is None and not (kind == "jsonl" and reason == "invalid_observed_at"):
        row.pop(field)
    else:
        row[field] = value
    if reason == "missing_external_id" and isinstance(value, list | dict):
        reason = "invalid_external_id"
    return row, reason


@SETTINGS
@given(st.data(), st.sampled_from(["jsonl", "csv"]))
def test_an_invalid_field_is_always_rejected_with_its_reason(data, kind):
    row, reason = data.draw(invalid_rows(kind))
    content = as_jsonl([row]) if kind == "jsonl" else as_csv([row])
    (record,) = read(kind, content)
    assert ingest.validate(record) == (None, reason), (row, reason)


@st.composite
def hostile_lines(draw) -> tuple[bytes, str]:
    """(a JSON line, the reason): valid rows made hostile at the line level."""
    row, _ = draw(valid_rows())
    line = json.dumps(row).encode()
    how = draw(st.sampled_from(["nested", "utf8", "long", "json", "object"]))
    if how == "nested":
        depth = draw(st.integers(17, 6000))
        return line[:-1] + b', "meta": ' + b"[" * depth + b"]" * depth + b"}", "too_deeply_nested"
    if how == "utf8":
        bad = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80"]))
        at = draw(st.integers(1, len(line) - 1))
        return line[:at] + bad + line[at:], "invalid_utf8"
    if how == "long":
        return line[:-1] + b', "pad": "' + b"p" * draw(st.integers(65536, 70000)) + b'"}', "line_too_long"
    if how == "json":
        return line[:draw(st.integers(1, len(line) - 1))], "invalid_json"
    return json.dumps(draw(st.one_of(st.lists(st.integers(), max_size=3), st.text(max_size=5),
                                     st.integers(), st.none()))).encode(), "not_an_object"


@SETTINGS
@given(hostile_lines())
def test_a_hostile_line_is_rejected_with_its_reason(line_reason):
    line, reason = line_reason
    (record,) = read("jsonl", line + b"\n")
    assert ingest.validate(record) == (None, reason)


# -- any bytes -----------------------------------------------------------------------------

LINES = st.one_of(
    st.binary(max_size=120),
    valid_rows().map(lambda r: json.dumps(r[0]).encode()),
    hostile_lines().map(lambda lr: lr[0]),
    st.text(max_size=80).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"", b"   ", b"\r", b"external_id,company,signal_type,observed_at,value", b'"', b"a,b"]),
)


@SETTINGS
@given(st.lists(LINES, max_size=12), st.sampled_from(["jsonl", "csv", "ndjson"]),
       st.sampled_from([b"\n", b"\r\n"]))
def test_any_bytes_never_raise_and_every_line_is_accepted_or_has_a_reason(lines, kind, end):
    from agent_warehouse.signals.validation import rejection

    content = end.join(lines)
    records = read(kind, content)
    assert len(records) <= content.count(b"\n") + 1  # at most one record per line
    for record in records:
        clean, reason = ingest.validate(record)
        if clean is None:
            assert reason in REASONS
            stored = rejection(reason, record)
            assert_storable(stored["payload"])
        else:
            assert reason is None and set(clean) == set(COLUMNS)
            assert FROM <= datetime.fromisoformat(clean["observed_at"]) < UNTIL
            assert abs(clean["value"]) <= 1e15


def assert_storable(payload) -> None:
    """What jsonb takes: valid UTF-8 without NUL, finite numbers, bounded in size and depth."""
    text = json.dumps(payload, ensure_ascii=False, allow_nan=False)
    text.encode("utf-8")  # raises on a lone surrogate
    assert "\x00" not in text and "\\u0000" not in text
    assert len(text) < 200_000

    def depth(v, d=0):
        if isinstance(v, dict):
            return max([depth(x, d + 1) for x in v.values()], default=d + 1)
        if isinstance(v, list):
            return max([depth(x, d + 1) for x in v], default=d + 1)
        return d

    assert depth(payload) < 300


@SETTINGS
@given(st.one_of(invalid_rows("jsonl").map(lambda r: r[0]), st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.binary()),
    lambda inner: st.one_of(st.lists(inner), st.dictionaries(st.text(), inner)), max_leaves=400)))
def test_what_is_kept_of_any_rejected_row_is_storable(row):
    from agent_warehouse.signals.validation import rejection

    clean, reason = ingest.validate(row)
    assert_storable(rejection(reason or "invalid_value", row)["payload"])
