"""Developer tools: embedded database, demo, synthetic data, benchmark.

Not part of the deployed package (``agent_warehouse``); run from a checkout with
``make``. Their SQL sits beside them in ``tools/sql``.
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TOOLS_SQL = Path(__file__).resolve().parent / "sql"
