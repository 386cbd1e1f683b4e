"""Signal aggregation: ingest provider signals about companies, derive per-day features,
score them per workspace and scoring pack, and rank the emerging companies.

Stages, in order: :mod:`.ingest`, :mod:`.derive`, :mod:`.score` (scores and ranks);
:mod:`.pipeline` runs them together. Tables live in the ``signals`` schema (docs/signals.md).
"""

from typing import Literal

SignalType = Literal["hiring", "funding", "traffic", "product_launch", "mention"]
