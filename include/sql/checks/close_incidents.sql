-- The outcome of the second check after a re-roll: 'repaired' or 'still_wrong'.
UPDATE ops.reconciliation_incidents
SET outcome = %(outcome)s, checked_again_at = now()
WHERE id = any(%(ids)s)
