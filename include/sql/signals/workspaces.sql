-- Every workspace the signal job knows (signals.workspace_packs), in a stable order.
SELECT workspace_id::text FROM signals.workspace_packs ORDER BY workspace_id;
