-- One reconciliation incident: a period a run wrote that differed from its source.
INSERT INTO ops.reconciliation_incidents
    (grain, period, table_name, what_differed, details, mismatches, dag_id, run_id)
VALUES (%(grain)s, %(period)s::timestamptz, %(table_name)s, %(what_differed)s, %(details)s::jsonb,
        %(mismatches)s, %(dag_id)s, %(run_id)s)
RETURNING id
