"""Hypothesis profiles of the rollup property tests, and a second warehouse session.

``raw-domain`` (the default) is small enough for ``make test``; ``HYPOTHESIS_PROFILE=long``
selects ``raw-domain-long`` for a longer search. The tests apply them by name, so no other
test's settings change. No example database: nothing is written into the checkout.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from agent_warehouse.db import connect

settings.register_profile(
    "raw-domain", max_examples=10, deadline=None, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large])
settings.register_profile("raw-domain-long", settings.get_profile("raw-domain"), max_examples=200)



@pytest.fixture()
def other(migrated):
    """A second warehouse session (another writer, another run), rolled back and closed after."""
    conn = connect()
    yield conn
    conn.rollback()
    conn.close()
