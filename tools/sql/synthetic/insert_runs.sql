-- A page of generated runs in one INSERT, as an application writes them: the statement-level
-- invalidation triggers fire once per page. Each parameter is an array, one element per run.
INSERT INTO public.agent_runs (
    workspace_id, user_id, status, started_at, runtime_seconds, credits_consumed
)
SELECT *
FROM unnest(
    %(workspace_id)s::uuid[],
    %(user_id)s::uuid[],
    %(status)s::text[],
    %(started_at)s::timestamptz[],
    %(runtime_seconds)s::double precision[],
    %(credits_consumed)s::numeric[]
);
