-- The stored ranked list of one workspace, pack and day.
SELECT rank, company_name, composite, band
FROM signals.emerging_companies
WHERE workspace_id = %(workspace_id)s::uuid AND pack_id = %(pack_id)s AND day = %(day)s::date
ORDER BY rank
LIMIT %(limit)s;
