"""The ``file`` provider: CSV (header row) and JSON Lines files in AGENT_WAREHOUSE_SIGNALS_DROP_DIR.

Each file is one delivery, read line by line as bytes so that no line can stop the others:
a line over MAX_LINE_BYTES, not UTF-8, not JSON, nested too deep or with the wrong number
of CSV fields becomes a :class:`Malformed` record with its reason. A file is refused whole
(recorded, the other files go on) when it is not a regular file, is over MAX_FILE_BYTES or,
for CSV, has no usable header. Files whose names start with "." are ignored: write a drop
under such a name and rename it when complete.
"""

from __future__ import annotations

import csv
import logging
import os
import stat
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from agent_warehouse import settings
from agent_warehouse.signals.providers import Delivery, Refused, register
from agent_warehouse.signals.validation import (
    KEPT_TEXT_CHARS,
    MAX_FILE_BYTES,
    MAX_LINE_BYTES,
    Line,
    Malformed,
    parse_json_line,
)

log = logging.getLogger(__name__)

SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
COLUMNS = ("external_id", "company", "signal_type", "observed_at", "value")
FILE_REASONS = frozenset({"not_a_regular_file", "file_too_large", "invalid_csv_header"})
_BOM = b"\xef\xbb\xbf"


def display_path(path: str) -> str:
    """A path as text PostgreSQL stores: bytes that are not UTF-8 as ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


@register("file")
class FileProvider:
    """Every ``*.csv``, ``*.jsonl`` and ``*.ndjson`` file of the drop folder, whatever the
    window: the ingest records each file read (path, size, modification time) and reads it
    again only when it changes."""

    name = "file"

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder or settings.current().signals_drop_dir)

    def deliveries(self, start: datetime, end: datetime) -> list[Delivery]:
        if not self.folder.is_dir():
            log.info("signal drop folder %s does not exist: nothing to read", self.folder)
            return []
        found = []
        with os.scandir(self.folder) as entries:
            for entry in entries:
                kind = SUFFIXES.get(Path(entry.name).suffix.lower())
                if kind is not None and not entry.name.startswith("."):
                    found.append((entry.name, entry.path, kind))
        out = []
        for _name, path, kind in sorted(found):
            try:
                st = os.stat(path)
            except OSError as exc:  # vanished or unreadable: a failure, tried again next run
                out.append(Delivery(read=partial(_raise, exc), source=display_path(path)))
                continue
            out.append(Delivery(read=partial(read_file, path, kind), source=display_path(path),
                                fingerprint=f"{st.st_size}:{st.st_mtime_ns}", size=st.st_size))
        return out

    def fetch(self, start: datetime, end: datetime) -> Iterator[Any]:
        """Every record of every file, a refused file as one :class:`Malformed` record (the
        ingest itself reads :meth:`deliveries`, one file at a time)."""
        for delivery in self.deliveries(start, end):
            try:
                yield from delivery.read()
            except Refused as exc:
                yield Malformed(exc.reason, {"file": delivery.source, "error": str(exc)})


def _raise(exc: BaseException) -> Iterator[Any]:
    raise exc


def read_file(path: str, kind: str) -> Iterator[Line | Malformed]:
    """The records of one file (``kind`` ``csv`` or ``jsonl``); raises :class:`Refused` for a
    file refused whole, OSError when it cannot be read."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block, a device never end
        raise Refused("not_a_regular_file", display_path(path))
    if st.st_size > MAX_FILE_BYTES:
        raise Refused("file_too_large", f"{st.st_size} bytes, the limit is {MAX_FILE_BYTES}")
    name = display_path(path)
    # O_NONBLOCK: if the path became a FIFO since the check, opening it must not hang.
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as fh:
        lines = _lines(fh, name)
        yield from (_csv(lines, name) if kind == "csv" else _jsonl(lines, name))


def _lines(fh: Any, name: str) -> Iterator[tuple[int, str | Malformed]]:
    """(line number, text without its line end) or (number, Malformed) for a line that is
    too long or not UTF-8. Never holds more than MAX_LINE_BYTES of one line."""
    number = total = 0
    while chunk := fh.readline(MAX_LINE_BYTES + 2):
        number += 1
        total += len(chunk)
        ended = chunk.endswith(b"\n")
        if not ended and len(chunk) == MAX_LINE_BYTES + 2:  # too long: skip to the line's end
            while (more := fh.readline(1 << 16)) and not more.endswith(b"\n"):
                total += len(more)
            total += len(more)
        if total > MAX_FILE_BYTES:  # it grew since the size check
            raise Refused("file_too_large", f"over {MAX_FILE_BYTES} bytes")
        raw = chunk[:-1] if ended else chunk
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        where = {"file": name, "line": number}
        if len(raw) > MAX_LINE_BYTES:
            yield number, Malformed("line_too_long", {**where, "bytes_over": len(raw) - MAX_LINE_BYTES,
                                                      "text": raw[:KEPT_TEXT_CHARS].decode("utf-8", "replace")})
            continue
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield number, Malformed("invalid_utf8", {**where, "error": str(exc),
                                                     "text": raw[:KEPT_TEXT_CHARS].decode("utf-8", "replace")})


def _jsonl(lines: Iterator[tuple[int, str | Malformed]], name: str) -> Iterator[Line | Malformed]:
    for number, text in lines:
        if isinstance(text, Malformed):
            yield text
        elif text.strip():
            yield parse_json_line(text, name, number)


def _csv(lines: Iterator[tuple[int, str | Malformed]], name: str) -> Iterator[Line | Malformed]:
    header: list[str] | None = None
    for number, text in lines:
        where = {"file": name, "line": number}
        if isinstance(text, Malformed):
            if header is None:
                raise Refused("invalid_csv_header", f"line {number}: {text.reason}")
            yield text
            continue
        if not text.strip():
            continue
        try:
            rows = list(csv.reader([text], strict=True))
        except csv.Error as exc:
            rows, error = [], str(exc)
        else:
            error = "not one CSV record"
        if len(rows) != 1:
            if header is None:
                raise Refused("invalid_csv_header", f"line {number}: {error}")
            yield Malformed("invalid_csv", {**where, "text": text, "error": error})
            continue
        fields = rows[0]
        if header is None:
            names = [f.strip().lower() for f in fields]
            missing = [c for c in COLUMNS if c not in names]
            if missing or len(set(names)) != len(names):
                raise Refused("invalid_csv_header",
                              f"missing columns {missing}" if missing else "duplicate column names")
            header = names
        elif len(fields) != len(header):
            yield Malformed("wrong_field_count", {**where, "text": text, "fields": len(fields),
                                                  "expected": len(header)})
        else:
            yield Line(name, number, dict(zip(header, fields, strict=True)))
