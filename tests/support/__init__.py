"""Helpers shared by the tests: the oracle, DAG runs, service processes, checks."""

from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
HOUR = timedelta(hours=1)
