-- Empty the naive side's period row (untimed) before a timed naive daily or weekly run.
DELETE FROM bench_naive.execution_metrics_period WHERE period_start = %(start)s::timestamptz;
