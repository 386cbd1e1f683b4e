"""docs/schema.sql is the schema the migrations build today: regenerated with `make schema`."""

from __future__ import annotations

import difflib

from tools import schema


def test_schema_file_matches_a_freshly_migrated_database():
    committed = schema.SCHEMA_FILE.read_text()
    current = schema.generate()
    diff = "".join(difflib.unified_diff(committed.splitlines(True), current.splitlines(True),
                                        "docs/schema.sql", "migrated database", n=1))
    assert committed == current, f"docs/schema.sql is stale: run `make schema` and commit it\n{diff[:4000]}"
