-- A missed DeadlineAlert, recorded by its callback.
INSERT INTO ops.deadline_misses (dag_id, run_id, deadline_minutes, detail)
VALUES (%(dag_id)s, %(run_id)s, %(minutes)s, %(detail)s)
