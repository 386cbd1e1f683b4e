-- A queued job whose DAG run could not be triggered, and that no client can replay (no key).
UPDATE ops.job_runs
SET status = 'failed', finished_at = now(), error = %(error)s
WHERE id = %(id)s AND status = 'queued';
