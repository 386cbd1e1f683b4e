"""The warehouse checks itself: reconciliation of the periods a run wrote
(``reconcile``), how fresh every rollup table is (``freshness``), and workspaces whose
agents started failing or slowing down (``anomalies``, sent through ``notify``)."""
