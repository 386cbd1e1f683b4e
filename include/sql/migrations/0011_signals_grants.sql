-- The signals schema (0004) for the roles of 0003: the job role ingests, derives and scores;
-- tables later migrations add to it get the same grants. Dashboards (the reader role) read
-- analytics only, so they get nothing here.
GRANT USAGE ON SCHEMA signals TO agent_warehouse_job;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA signals TO agent_warehouse_job;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA signals TO agent_warehouse_job;

DO $$
DECLARE
    creator text;
BEGIN
    FOREACH creator IN ARRAY ARRAY['agent_warehouse_owner', current_user] LOOP
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA signals
                        GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO agent_warehouse_job', creator);
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA signals
                        GRANT USAGE, SELECT ON SEQUENCES TO agent_warehouse_job', creator);
    END LOOP;
END $$;
