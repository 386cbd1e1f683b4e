-- The pack a workspace scores with: the pack given, else the workspace's, else the default.
SELECT (SELECT pack_id FROM signals.scoring_packs WHERE pack_id = %(pack_id)s)     AS given,
       (SELECT pack_id FROM signals.workspace_packs WHERE workspace_id = %(workspace_id)s::uuid)
                                                                                   AS workspace_pack,
       (SELECT pack_id FROM signals.scoring_packs WHERE is_default)                AS default_pack,
       %(workspace_id)s::uuid IN (SELECT workspace_id FROM signals.workspace_packs) AS known;
