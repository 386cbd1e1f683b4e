-- Make a workspace known to the signal job, with its own pack or (NULL) the default one.
INSERT INTO signals.workspace_packs (workspace_id, pack_id)
VALUES (%(workspace_id)s, %(pack_id)s)
ON CONFLICT (workspace_id) DO UPDATE
    SET pack_id = excluded.pack_id, updated_at = now();
