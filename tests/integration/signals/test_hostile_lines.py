"""Any line a signal provider delivers (issue 17 §2), through the real pipeline: a drop folder
of valid lines beside hostile ones stores every valid line, sets each hostile line aside with
its reason, records the bad files, keeps the run green, and does not read a file twice.
Property-based too: any mix of valid and invalid rows, stored by the real PostgreSQL."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_warehouse.signals import ingest, pipeline
from support.checks import fetch
from support.runs import run_dag

DAY = date(2026, 1, 5)
RUN_AT = datetime(2026, 1, 6, 0, 30, tzinfo=UTC)


@pytest.fixture()
def clean_files(wh):
    """signals.provider_files is not in the suite's list of tables to clean (migration 0024)."""
    with wh.cursor() as cur:
        cur.execute("TRUNCATE signals.provider_files")
    wh.commit()


def row(external_id: str, company: str = "Valid Co", **extra) -> dict:
    return {"external_id": external_id, "company": company, "signal_type": "hiring",
            "observed_at": "2026-01-05T10:00:00+00:00", "value": 1, **extra}


def jl(obj) -> bytes:
    return json.dumps(obj).encode() + b"\n"


def drop_folder(folder) -> dict[tuple[str, int], str]:
    """12 valid lines in three files, hostile lines beside them, and two files refused whole.
    Returns {(file, line): reason} of every hostile line."""
    hostile: dict[tuple[str, int], str] = {}

    # signals.jsonl: 4 valid lines (one at the range's first instant, one with an offset
    # PostgreSQL would refuse as text, one at the value ceiling), 7 hostile ones.
    lines = [
        jl(row("j-1")),
        jl(row("j-nul", company="Evil\u0000Corp")), jl(row("x" * 4000)),
        b'{"external_id": "j-deep", "nest": ' + b"[" * 5000 + b"]" * 5000 + b"}\n",
        jl(row("j-2", observed_at="2000-01-01T00:00:00Z")),
        jl(row("j-9999", observed_at="9999-12-31T23:59:59+00:00")), jl(row("j-big", value=1e308)),
        jl(row("j-3", observed_at="2026-01-05T20:00:00+20:00")),
        b'{"external_id": "j-utf8", "company": "Bad \xff\xfe Bytes", "signal_type": "hiring"}\n',
        jl(row("j-0001", observed_at="0001-01-01T00:00:00+05:00")),
        b"\n",
        jl(row("j-4", value=1e15)),
        b'{"external_id": "j-surrogate", "company": "\\ud800"}\n',
    ]
    reasons = {2: "company_invalid_characters", 3: "external_id_too_long", 4: "too_deeply_nested",
               6: "observed_at_out_of_range", 7: "value_out_of_range", 9: "invalid_utf8",
               10: "observed_at_out_of_range", 13: "company_invalid_characters"}
    (folder / "signals.jsonl").write_bytes(b"".join(lines))
    hostile.update({("signals.jsonl", n): r for n, r in reasons.items()})

    # drop.csv: a BOM, CRLF line ends, 4 valid lines and 5 hostile ones.
    csv_lines = [
        b"\xef\xbb\xbfexternal_id,company,signal_type,observed_at,value",
        b"c-1,Csv Co,funding,2026-01-05T08:00:00Z,2000000",
        b"c-nul,Nul\x00Co,funding,2026-01-05T08:00:00Z,1",
        b"c-2,\"Quoted, Inc.\",Mention,2026-01-05 09:30:00-12:00,3.5",
        b"c-utf8,\xc3\x28 Co,funding,2026-01-05T08:00:00Z,1",
        b"c-9999,Csv Co,funding,9999-12-31T23:00:00-05:00,1",
        b"c-3,Csv Co,traffic,2026-01-05T23:59:59.999999+00:00,-7",
        b"c-big,Csv Co,funding,2026-01-05T08:00:00Z,1e308",
        b"c-short,Csv Co",
        b"c-4,  Csv Co  ,hiring,2026-01-05T00:00:00+14:00,0",
    ]
    (folder / "drop.csv").write_bytes(b"\r\n".join(csv_lines) + b"\r\n")
    hostile.update({("drop.csv", 3): "company_invalid_characters", ("drop.csv", 5): "invalid_utf8",
                    ("drop.csv", 6): "observed_at_out_of_range", ("drop.csv", 8): "value_out_of_range",
                    ("drop.csv", 9): "wrong_field_count"})

    # more.ndjson: 4 valid lines, a line over 64 KiB, a line that is no object, broken JSON.
    nd = [jl(row("n-1", company="Ünïcode Ltd")), jl(row("n-long", pad="p" * 70_000)), jl(row("n-2")),
          b"[1, 2, 3]\n", jl(row("n-3", signal_type="PRODUCT_LAUNCH")), b'{"external_id": "n-broken",\n',
          jl(row("n-4", external_id_note="ignored extra field"))]
    (folder / "more.ndjson").write_bytes(b"".join(nd))
    hostile.update({("more.ndjson", 2): "line_too_long", ("more.ndjson", 4): "not_an_object",
                    ("more.ndjson", 6): "invalid_json"})

    # Refused whole: a CSV without the columns, a folder named like a drop file.
    (folder / "bad.csv").write_bytes(b"id;name\n1;x\n")
    (folder / "folder.jsonl").mkdir()
    return hostile


def rejected_lines(wh) -> dict[tuple[str, int], str]:
    rows = fetch(wh, "SELECT reason, payload->>'file', (payload->>'line')::int FROM signals.rejected_signals "
                     "WHERE provider = 'file'")
    return {(path.rsplit("/", 1)[-1], line): reason for reason, path, line in rows}


def test_valid_lines_beside_hostile_ones_are_all_stored(wh, dagbag, tmp_path, monkeypatch, clean_files):
    hostile = drop_folder(tmp_path)
    monkeypatch.setenv("AGENT_WAREHOUSE_SIGNALS_PROVIDERS", "file")
    monkeypatch.setenv("AGENT_WAREHOUSE_SIGNALS_DROP_DIR", str(tmp_path))

    dr = run_dag(dagbag, "daily_signal_aggregation", RUN_AT, monkeypatch)
    assert dr.state == "success"
    assert {ti.task_id: ti.state for ti in dr.get_task_instances()}["ingest"] == "success"

    stored = {r[0] for r in fetch(wh, "SELECT external_id FROM signals.raw_signals")}
    assert stored == {f"{p}-{i}" for p in "jcn" for i in range(1, 5)}  # all 12 valid lines
    assert rejected_lines(wh) == hostile  # every hostile line, with its reason
    # What is kept of a hostile line is storable: no NUL, the 4,000-character id cut short.
    kept = fetch(wh, "SELECT max(length(payload::text)) FROM signals.rejected_signals")[0][0]
    assert kept < 5_000
    # Stored as meant: in UTC, the +20:00 time included.
    assert fetch(wh, "SELECT observed_at FROM signals.raw_signals WHERE external_id = 'j-3'") == [
        (datetime(2026, 1, 5, 0, 0, tzinfo=UTC),)]
    assert fetch(wh, "SELECT name FROM signals.companies ORDER BY name") == [
        ("Csv Co",), ("Quoted, Inc.",), ("Valid Co",), ("Ünïcode Ltd",)]

    files = {path.rsplit("/", 1)[-1]: rest for path, *rest in fetch(
        wh, "SELECT path, status, lines, inserted, rejected FROM signals.provider_files")}
    assert files["signals.jsonl"] == ["ingested", 12, 4, 8]
    assert files["drop.csv"] == ["ingested", 9, 4, 5]
    assert files["more.ndjson"] == ["ingested", 7, 4, 3]
    assert files["bad.csv"][0] == "refused" and files["folder.jsonl"][0] == "refused"
    ((status, fetched, inserted, rejected, error),) = fetch(
        wh, "SELECT status, fetched, inserted, rejected, error FROM signals.provider_runs WHERE provider = 'file'")
    assert (status, fetched, inserted, rejected) == ("partial", 28, 12, 16)
    assert "bad.csv" in error and "invalid_csv_header" in error and "folder.jsonl" in error

    # A second run reads nothing again: no file is re-read, nothing new is stored.
    read_at = fetch(wh, "SELECT path, read_at FROM signals.provider_files ORDER BY path")
    dr = run_dag(dagbag, "daily_signal_aggregation", RUN_AT + timedelta(minutes=1), monkeypatch)
    assert dr.state == "success"
    assert fetch(wh, "SELECT path, read_at FROM signals.provider_files ORDER BY path") == read_at
    assert fetch(wh, "SELECT fetched, inserted, rejected FROM signals.provider_runs WHERE provider = 'file'") == [
        (0, 0, 0)]
    assert fetch(wh, "SELECT count(*) FROM signals.rejected_signals")[0][0] == len(hostile)

    # A file that changes is read again (only that one); its known lines insert nothing.
    with (tmp_path / "more.ndjson").open("ab") as fh:
        fh.write(jl(row("n-5")))
    report = ingest.ingest(wh, *pipeline.day_bounds(DAY), providers=[ingest.FileProvider(tmp_path)])
    assert report["providers"]["file"]["fetched"] == 8 and report["inserted"] == 1
    assert fetch(wh, "SELECT count(*) FROM signals.rejected_signals")[0][0] == len(hostile)


class Rows:
    """A provider that delivers the rows it was given."""

    name = "rows"

    def __init__(self, rows: list) -> None:
        self.rows = rows

    def fetch(self, start, end):
        return self.rows


def test_rows_postgresql_refuses_are_set_aside_even_without_validation(wh, monkeypatch):
    """The last line of defence: were validation to let a bad row through, PostgreSQL's
    refusal costs that row alone (bisection), not the delivery."""
    monkeypatch.setattr(ingest, "validate", lambda record: (record, None))
    good = [row(f"g-{i}") for i in range(5)]
    bad = [row("b-nul", company="A\x00B"), row(secrets.token_urlsafe(4000)), row("b-tz", observed_at="2026-01-05T10:00+20:00")]
    report = ingest.ingest(wh, *pipeline.day_bounds(DAY), providers=[Rows(good[:2] + bad + good[2:])])
    assert report["inserted"] == 5 and report["rejected"] == 3
    assert sorted(r[0] for r in fetch(wh, "SELECT external_id FROM signals.raw_signals")) == [f"g-{i}" for i in range(5)]
    assert {r[0] for r in fetch(wh, "SELECT reason FROM signals.rejected_signals")} == {"not_storable"}


# -- property: any mix of rows, into the real PostgreSQL -------------------------------------

TYPES = ("hiring", "funding", "traffic", "product_launch", "mention")
TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=0, max_size=300)
ANY_TIME = st.tuples(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
                     st.integers(-(24 * 60 - 1), 24 * 60 - 1)).map(
    lambda t: t[0].isoformat() + f"{'+' if t[1] >= 0 else '-'}{abs(t[1]) // 60:02d}:{abs(t[1]) % 60:02d}")
ROWS = st.fixed_dictionaries({
    "external_id": st.one_of(TEXT, st.integers(0, 10**6).map(str)),
    "company": st.one_of(st.sampled_from(["Acme", "acme ", "Beta"]), TEXT),
    "signal_type": st.one_of(st.sampled_from(TYPES), TEXT),
    "observed_at": st.one_of(ANY_TIME, TEXT),
    "value": st.one_of(st.floats(), st.integers(-(10**20), 10**20), TEXT),
})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(st.lists(ROWS, max_size=15))
def test_every_row_validation_accepts_is_stored_and_every_other_is_set_aside(wh, rows):
    with wh.cursor() as cur:
        cur.execute("TRUNCATE signals.raw_signals, signals.rejected_signals, signals.provider_runs, "
                    "signals.companies CASCADE")
    wh.commit()
    verdicts = [ingest.validate(r) for r in rows]
    accepted = {clean["external_id"]: clean for clean, _ in verdicts if clean is not None}
    report = ingest.ingest(wh, *pipeline.day_bounds(DAY), providers=[Rows(rows)])
    assert report["failed"] == []
    stored = {r[0]: r[1:] for r in fetch(wh, "SELECT external_id, signal_type, observed_at, value "
                                             "FROM signals.raw_signals")}
    assert set(stored) == set(accepted)  # no valid row lost
    for external_id, (signal_type, observed_at, value) in stored.items():
        clean = accepted[external_id]
        assert signal_type == clean["signal_type"] and value == clean["value"]
        assert observed_at == datetime.fromisoformat(clean["observed_at"])
    rejected = sum(clean is None for clean, _ in verdicts)
    assert report["rejected"] == rejected
    assert fetch(wh, "SELECT count(*) FROM signals.rejected_signals")[0][0] <= rejected  # duplicates kept once
