"""What a provider line must be to be stored, and what is kept of one that is not.

Every limit here is one PostgreSQL or the scoring needs (docs/signals.md "Accepted lines"):
text without NUL or control characters (PostgreSQL's text and jsonb refuse NUL), ids short
enough for the btree key, finite numbers within a ceiling, times in a supported range (sent
in UTC: PostgreSQL refuses offsets beyond 15:59), JSON no deeper than a few levels (Python's
parser raises RecursionError on deep nesting). A line that fails is rejected with the reason
of its first bad field; what is stored of it is cut to a storable size.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from agent_warehouse.signals import SignalType

log = logging.getLogger(__name__)

# Limits (stated in docs/signals.md and the README).
MAX_FILE_BYTES = 32 * 1024 * 1024  # a larger drop file is rejected whole: split it
MAX_LINE_BYTES = 64 * 1024  # one JSON Lines or CSV line, without its line end
MAX_JSON_DEPTH = 16  # nesting of arrays/objects in a JSON line (a signal is depth 1)
MAX_EXTERNAL_ID_CHARS = 256  # <= 1,024 UTF-8 bytes: far below btree's 2,704-byte key limit
MAX_COMPANY_CHARS = 200
MAX_ABS_VALUE = 1e15  # sums of a day's values stay exact in double precision
OBSERVED_FROM = datetime(2000, 1, 1, tzinfo=UTC)  # supported observed_at: [from, until)
OBSERVED_UNTIL = datetime(2100, 1, 1, tzinfo=UTC)
# What a rejected line keeps: strings cut to this many characters, at most this many values.
KEPT_TEXT_CHARS = 500
KEPT_VALUES = 200

# Every reason a line can be rejected with (docs/signals.md lists what each means).
REASONS = frozenset({
    "invalid_utf8", "line_too_long", "too_deeply_nested", "invalid_json", "invalid_csv",
    "wrong_field_count", "not_an_object",
    "missing_external_id", "invalid_external_id", "external_id_too_long", "external_id_invalid_characters",
    "missing_company", "invalid_company", "company_too_long", "company_invalid_characters",
    "unknown_signal_type",
    "invalid_observed_at", "observed_at_without_timezone", "observed_at_out_of_range",
    "invalid_value", "value_out_of_range",
    "not_storable", "unprocessable",
})

# NUL (refused by PostgreSQL), the other C0/C1 control characters and lone surrogates
# (not encodable as UTF-8).
_BAD_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_ISO_TIME = re.compile(r"\s*\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


@dataclass(frozen=True, slots=True)
class Malformed:
    """A line a provider could not even parse (bad bytes, bad JSON); rejected with ``reason``."""

    reason: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Line:
    """A parsed line of a drop file: the row and where it came from (kept if it is rejected)."""

    file: str
    number: int
    row: Any


def _clean_text(value: str) -> str:
    if _BAD_CHARS.search(value):
        raise PydanticCustomError("invalid_characters", "contains NUL, a control character or a lone surrogate")
    return value


def _iso_text(value: Any) -> Any:
    # ISO 8601 text with a date and a time, or a datetime; a number (pydantic would read unix
    # time, even from a string) is not a time.
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_TIME.match(value)):
        return value
    raise PydanticCustomError("invalid_observed_at", "observed_at must be an ISO 8601 time")


def _in_range(value: datetime) -> datetime:
    # Compared before any conversion: astimezone() overflows near year 1 and 9999.
    if not OBSERVED_FROM <= value < OBSERVED_UNTIL:
        raise PydanticCustomError("out_of_range", "observed_at outside the supported range")
    return value.astimezone(UTC)


def _number(value: Any) -> Any:
    if isinstance(value, bool):  # pydantic reads true as 1.0
        raise PydanticCustomError("invalid_value", "value must be a number")
    return value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


class SignalRow(BaseModel):
    """One provider row as the warehouse stores it; anything else is set aside with a reason."""

    model_config = ConfigDict(str_strip_whitespace=True, coerce_numbers_to_str=True, extra="ignore")

    external_id: Annotated[str, Field(min_length=1, max_length=MAX_EXTERNAL_ID_CHARS), AfterValidator(_clean_text)]
    company: Annotated[str, Field(min_length=1, max_length=MAX_COMPANY_CHARS), AfterValidator(_clean_text)]
    signal_type: Annotated[SignalType, BeforeValidator(_lower)]
    observed_at: Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_in_range)]
    value: Annotated[float, Field(allow_inf_nan=False, ge=-MAX_ABS_VALUE, le=MAX_ABS_VALUE),
                     BeforeValidator(_number)]


# The reason stored for a row's first invalid field: (field, pydantic error type), else the field's default.
_REASONS = {
    ("external_id", "missing"): "missing_external_id", ("external_id", "string_too_short"): "missing_external_id",
    ("external_id", "string_too_long"): "external_id_too_long",
    ("external_id", "invalid_characters"): "external_id_invalid_characters",
    ("external_id", "string_unicode"): "external_id_invalid_characters",
    ("company", "missing"): "missing_company", ("company", "string_too_short"): "missing_company",
    ("company", "string_too_long"): "company_too_long",
    ("company", "invalid_characters"): "company_invalid_characters",
    ("company", "string_unicode"): "company_invalid_characters",  # a lone surrogate
    ("observed_at", "timezone_aware"): "observed_at_without_timezone",
    ("observed_at", "out_of_range"): "observed_at_out_of_range",
    ("value", "greater_than_equal"): "value_out_of_range", ("value", "less_than_equal"): "value_out_of_range",
}
_FIELD_REASONS = {"external_id": "invalid_external_id", "company": "invalid_company",
                  "signal_type": "unknown_signal_type", "observed_at": "invalid_observed_at",
                  "value": "invalid_value"}


def validate(record: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(clean row, None) or (None, reason) for anything a provider delivered. Never raises."""
    if isinstance(record, Malformed):
        return None, record.reason
    row = record.row if isinstance(record, Line) else record
    try:
        return SignalRow.model_validate(row).model_dump(mode="json"), None
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "model_type":
            return None, "not_an_object"
        field = str(first["loc"][0])
        return None, _REASONS.get((field, first["type"]), _FIELD_REASONS.get(field, "unprocessable"))
    except Exception:  # a bug here must cost one line, not the delivery
        log.exception("validating a signal row failed unexpectedly")
        return None, "unprocessable"


def storable(value: Any) -> Any:
    """``value`` as JSON jsonb takes: no NUL or lone surrogate, NaN/infinity as strings, text
    cut to KEPT_TEXT_CHARS, at most KEPT_VALUES values in all (deeper or further ones become "...")."""
    budget = [KEPT_VALUES]

    def text(s: str) -> str:
        s = s[:KEPT_TEXT_CHARS].replace("\x00", "")
        return s.encode("utf-8", "replace").decode("utf-8")  # a lone surrogate becomes "?"

    def walk(v: Any) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            return "..."
        if v is None or isinstance(v, bool):
            return v
        if isinstance(v, int):
            return v if abs(v) < 2**63 else f"<integer of {v.bit_length()} bits>"
        if isinstance(v, float):
            return v if math.isfinite(v) else json.dumps(v)  # "NaN", "Infinity"
        if isinstance(v, str):
            return text(v)
        if isinstance(v, bytes):
            return text(v.decode("utf-8", "replace"))
        if isinstance(v, dict):
            out: dict[str, Any] = {}
            for key, item in v.items():
                if budget[0] <= 0:
                    out["..."] = "..."
                    break
                out[text(str(key))] = walk(item)
            return out
        if isinstance(v, list | tuple | set | frozenset):
            items: list[Any] = []
            for item in v:
                if budget[0] <= 0:
                    items.append("...")
                    break
                items.append(walk(item))
            return items
        return text(repr(v))

    return walk(value)


def rejection(reason: str, record: Any) -> dict[str, Any]:
    """The ``signals.rejected_signals`` entry of a rejected record: reason, storable payload
    (with the file and line for a drop-file line) and the hash that keeps re-deliveries single."""
    if isinstance(record, Malformed):
        payload: Any = record.payload
    elif isinstance(record, Line):
        payload = {"file": record.file, "line": record.number, "row": record.row}
    else:
        payload = record
    try:
        payload = storable(payload)
    except Exception:  # an object whose str() or repr() raises
        payload = {"unrepresentable": type(payload).__name__}
    if not isinstance(payload, dict):
        payload = {"row": payload}
    text = json.dumps(payload, sort_keys=True)
    return {"reason": reason, "payload": payload,
            "payload_hash": hashlib.sha256(f"{reason}|{text}".encode()).hexdigest()}


def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``text`` nests arrays/objects deeper than ``limit`` (brackets inside strings
    do not count). Checked before json.loads, which recurses once per level."""
    if text.count("[") + text.count("{") <= limit:  # the common case, at C speed
        return False
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def parse_json_line(text: str, file: str, number: int) -> Line | Malformed:
    """One JSON Lines line: the parsed row, or why it could not be parsed."""
    if json_depth_exceeds(text):
        return Malformed("too_deeply_nested", {"file": file, "line": number, "text": text})
    try:
        return Line(file, number, json.loads(text))
    except (ValueError, RecursionError) as exc:  # ValueError: bad JSON, or an int of > 4,300 digits
        return Malformed("invalid_json", {"file": file, "line": number, "text": text, "error": str(exc)})
