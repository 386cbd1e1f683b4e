"""``make bench-peer``: the package side by side with what a PostgreSQL shop would build instead.

The alternative is ``pg_cron`` + ``pg_partman`` + plain SQL, with ``tdigest`` for mergeable
percentiles and ``hll`` for distinct users (``tools/sql/peer/peer_schema.sql``). Both run on one
PostgreSQL 15 cluster this tool starts itself (``initdb`` into ``.pgdata-peer``, its own socket
and port, ``pg_cron`` preloaded), in two databases loaded with the same synthetic runs
(``tools/sql/synthetic/generate_hour.sql``, same seeds): ``project`` migrated by
``agent_warehouse.db.migrations``, ``peer`` with the alternative's schema. The machine's own
PostgreSQL is never used. Missing Debian packages are installed first (apt-get, as root).

Per job, the time of each side (alternating sides, median of ``BENCH_PEER_REPEAT``) and the
ratio project / peer:

- ``hourly``: ``hourly.rollup_hour`` against ``peer.rollup_hour`` (exact ``percentile_cont``
  p95 + a t-digest + hll of users, per-user rows), each from an empty hour;
- ``daily``, ``weekly``: ``periods.daily`` / ``periods.weekly`` against the day and week from
  stored hourly / daily digests (``tdigest`` merge);
- ``retention``: what the cleanup DAG runs (``retention.cleanup``) against
  ``partman.run_maintenance()``, both dropping the benchmark's first day;
- ``catch_up``: 24 hourly runs: the package's functions called in-process, against pg_cron
  driving them (one job looping over the hours, and one job per hour, scheduled for the next
  whole minute: pg_cron 1.4 has no seconds), timed from the scheduling to the last run's end
  as ``cron.job_run_details`` records it, and the same procedure called directly (pg_cron's
  own overhead is the difference).

And the p95's relative error against exact ``PERCENTILE_CONT(0.95)`` on raw rows (the contract's
definition) at every grain, worst and 99th percentile, for both sides.

Sizes: ``BENCH_PEER_ROWS_PER_HOUR`` (200,000), ``BENCH_PEER_HOURS`` (24), ``BENCH_PEER_WORKSPACES``
(1000); ``BENCH_PEER_REPEAT`` (3), ``BENCH_PEER_CATCHUP_REPEAT`` (2),
``BENCH_PEER_TDIGEST_COMPRESSION`` (100), ``BENCH_PEER_PORT`` (55415),
``BENCH_PEER_KEEP=1`` keeps the stopped cluster's data directory, ``BENCH_PEER_OUT`` writes the
results elsewhere than ``bench/peer_results.json``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from tabulate import tabulate

from agent_warehouse.db import connect, migrations, run_script
from agent_warehouse.retention import cleanup as retention
from agent_warehouse.rollups import hourly, periods, utc_midnight
from tools import PROJECT_ROOT, TOOLS_SQL
from tools.synthetic import HOUR, generate_hours, progress

PACKAGES = ("postgresql-15-cron", "postgresql-15-partman", "postgresql-15-tdigest", "postgresql-15-hll")
PGBIN = Path(os.environ.get("BENCH_PEER_PGBIN", "/usr/lib/postgresql/15/bin"))
PGDATA = PROJECT_ROOT / ".pgdata-peer"
PORT = int(os.environ.get("BENCH_PEER_PORT", "55415"))
ROWS = int(os.environ.get("BENCH_PEER_ROWS_PER_HOUR", "200000"))
HOURS = int(os.environ.get("BENCH_PEER_HOURS", "24"))
WORKSPACES = int(os.environ.get("BENCH_PEER_WORKSPACES", "1000"))
REPEAT = int(os.environ.get("BENCH_PEER_REPEAT", "3"))
CATCHUP_REPEAT = int(os.environ.get("BENCH_PEER_CATCHUP_REPEAT", "2"))
COMPRESSION = int(os.environ.get("BENCH_PEER_TDIGEST_COMPRESSION", "100"))
KEEP = os.environ.get("BENCH_PEER_KEEP") == "1"
SEED = 0.42  # generate_hours' default: the project side is loaded through it
SQL = TOOLS_SQL / "peer"
RESULTS = Path(os.environ.get("BENCH_PEER_OUT", PROJECT_ROOT / "bench" / "peer_results.json")).resolve()
CRON_TIMEOUT_S = 1800

# Both sides get one server's settings; work_mem as tools/bench.py gives both of its sides.
SERVER_CONF = {
    "port": str(PORT),
    "listen_addresses": "''",
    "unix_socket_directories": f"'{PGDATA}'",
    "shared_preload_libraries": "'pg_cron'",
    "cron.database_name": "'peer'",
    "cron.host": f"'{PGDATA}'",  # pg_cron's jobs connect through the socket (trust)
    "timezone": "'UTC'",
    "shared_buffers": "'1GB'",
    "work_mem": "'128MB'",
    "max_wal_size": "'8GB'",
    "checkpoint_timeout": "'30min'",
    "max_worker_processes": "16",
    "log_min_messages": "warning",
}


def first_day(today: date) -> date:
    """The loaded day: a Monday (the weekly pair's week starts there) more than 91 days back, so
    the package's retention policy (raw rows kept at least 90 days) lets the cleanup drop it."""
    d = today - timedelta(days=92)
    return d - timedelta(days=d.weekday())


DAY0 = utc_midnight(first_day(datetime.now(UTC).date()))


# ---------------------------------------------------------------- packages and the cluster

def ensure_packages() -> list[str]:
    """Install the Debian packages of the alternative that are missing; returns those installed."""
    missing = [p for p in PACKAGES if subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True).stdout != "install ok installed"]
    if not missing:
        return []
    if os.geteuid() != 0:
        raise SystemExit(f"missing Debian packages {' '.join(missing)}: run as root or `apt-get install` them")
    print(f"installing {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env, stdout=subprocess.DEVNULL)
    return missing


def as_owner(*cmd: str) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its binaries as the postgres user."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


def pg_ctl(*args: str, check: bool = True) -> None:
    subprocess.run(as_owner(str(PGBIN / "pg_ctl"), "-D", str(PGDATA), "-w", *args), check=check,
                   stdout=subprocess.DEVNULL)


def start_cluster() -> None:
    """A fresh PostgreSQL 15 cluster in PGDATA (any earlier one is stopped and removed)."""
    if not (PGBIN / "postgres").exists():
        raise SystemExit(f"no PostgreSQL 15 server in {PGBIN} (apt-get install postgresql-15)")
    stop_cluster(remove=True)
    PGDATA.mkdir()
    if os.geteuid() == 0:
        shutil.chown(PGDATA, "postgres", "postgres")
    subprocess.run(as_owner(str(PGBIN / "initdb"), "-D", str(PGDATA), "-U", "postgres", "-A", "trust",
                            "-E", "UTF8", "--no-locale"), check=True, stdout=subprocess.DEVNULL)
    with (PGDATA / "postgresql.conf").open("a") as conf:
        conf.write("\n# tools/bench_peer.py\n" + "".join(f"{k} = {v}\n" for k, v in SERVER_CONF.items()))
    pg_ctl("-l", str(PGDATA / "server.log"), "start")


def stop_cluster(remove: bool) -> None:
    if (PGDATA / "postmaster.pid").exists():
        pg_ctl("-m", "fast", "stop", check=False)
    if remove and PGDATA.exists():
        shutil.rmtree(PGDATA)


def dsn(db: str) -> str:
    return f"host={PGDATA} port={PORT} user=postgres dbname={db}"


def admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(dsn("postgres"), autocommit=True) as conn:
        conn.execute(statement)


# ---------------------------------------------------------------- helpers

def timed(fn: Callable[[], Any]) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def query(conn: Any, name: str, params: dict[str, Any] | None = None) -> list[tuple]:
    return run_script(conn, SQL / name, params or {})


def execute(conn: Any, statement: str, autocommit: bool = False) -> None:
    conn.autocommit = autocommit
    try:
        conn.execute(statement)
        if not autocommit:
            conn.commit()
    finally:
        conn.autocommit = False


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.machine()} {os.cpu_count()} cores {mem:.0f} GiB, {platform.system()} {platform.release()}"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def summary(seconds: list[float]) -> dict[str, Any]:
    return {"median_s": statistics.median(seconds), "min_s": min(seconds), "max_s": max(seconds),
            "runs_s": [round(s, 4) for s in seconds]}


def alternate(pairs: dict[str, tuple[Callable[[], Any], Callable[[], float]]], repeat: int) -> dict[str, Any]:
    """Each side ``repeat`` times, alternating (A B A B ...): (prepare untimed, timed run) per side."""
    times: dict[str, list[float]] = {side: [] for side in pairs}
    for _ in range(repeat):
        for side, (prepare, run) in pairs.items():
            prepare()
            times[side].append(run())
    return {side: summary(t) for side, t in times.items()}


# ---------------------------------------------------------------- loading

def load_project(conn: Any) -> None:
    migrations.migrate(conn)
    generate_hours(conn, DAY0, HOURS, ROWS, WORKSPACES, seed=SEED, label="project: loading runs")
    execute(conn, "TRUNCATE ops.agent_runs_invalidations")  # the production hours would have consumed them


def load_peer(conn: Any) -> str:
    """The alternative's schema, pg_partman's partitions from the first day, the same runs."""
    conn.execute((SQL / "peer_schema.sql").read_text())
    conn.commit()
    (version,) = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'pg_partman'").fetchone()
    parent = "partman_parent_4.sql" if int(version.split(".")[0]) < 5 else "partman_parent_5.sql"
    query(conn, parent, {"start_partition": DAY0.strftime("%Y-%m-%d %H:%M:%S+00")})
    for i in range(HOURS):  # generate_hours' seeds, hour by hour: the same rows as the project's
        run_script(conn, TOOLS_SQL / "synthetic/generate_hour.sql", {
            "start": DAY0 + i * HOUR, "rows": ROWS, "workspaces": WORKSPACES, "seed": (SEED + i * 0.001) % 1})
        progress(i + 1, HOURS, "peer: loading runs")
    return version


def settle(conn: Any) -> None:
    """Statistics current and the load's dirty pages written out before anything is timed."""
    execute(conn, "VACUUM ANALYZE public.agent_runs", autocommit=True)
    execute(conn, "CHECKPOINT", autocommit=True)


# ---------------------------------------------------------------- the catch-up through pg_cron

def next_minute(conn: Any, margin_s: float = 3.0) -> str:
    """A cron schedule that fires once, at the next whole minute (UTC, pg_cron 1.4's clock) at
    least ``margin_s`` away: pg_cron 1.4 has no one-shot jobs and no seconds."""
    ((now,),) = conn.execute("SELECT clock_timestamp()").fetchall()
    conn.commit()
    at = now.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    if (at - now).total_seconds() < margin_s:
        at += timedelta(minutes=1)
    return f"{at.minute} {at.hour} {at.day} {at.month} *"


def cron_catch_up(peer: Any, script: str) -> dict[str, Any]:
    """Schedule the catch-up through pg_cron at the next whole minute, wait until every job has
    run once, then unschedule them; seconds on the server's clock."""
    window = {"first_hour": DAY0, "end_hour": DAY0 + HOURS * HOUR}
    query(peer, "clear_peer_hours.sql", window)
    execute(peer, "CHECKPOINT", autocommit=True)
    ((jobs,),) = query(peer, script, {"first_hour": DAY0, "hours": HOURS, "compression": COMPRESSION,
                                      "schedule": next_minute(peer)})
    ((scheduled,),) = peer.execute("SELECT clock_timestamp()").fetchall()
    peer.commit()
    deadline = time.monotonic() + CRON_TIMEOUT_S
    try:
        while True:
            ((_, ended, failed, first_start, last_end, error),) = query(
                peer, "cron_status.sql", {"jobs": jobs, "since": scheduled})
            if failed:
                raise RuntimeError(f"a pg_cron catch-up job failed: {error}")
            if ended == len(jobs):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"pg_cron catch-up not done after {CRON_TIMEOUT_S} s")
            time.sleep(0.2)
    finally:
        query(peer, "cron_unschedule.sql", {"jobs": jobs})
    ((rows,),) = peer.execute("SELECT count(DISTINCT hour) FROM peer.metrics_hourly WHERE hour >= %s "
                              "AND hour < %s", (window["first_hour"], window["end_hour"])).fetchall()
    peer.commit()
    if rows != HOURS:
        raise RuntimeError(f"pg_cron catch-up rolled up {rows} of {HOURS} hours")
    return {"seconds": (last_end - scheduled).total_seconds(),
            "wait_for_start_s": (first_start - scheduled).total_seconds(),
            "run_s": (last_end - first_start).total_seconds(), "jobs": len(jobs)}


def catch_up(project: Any, peer: Any) -> dict[str, Any]:
    window = {"first_hour": DAY0, "end_hour": DAY0 + HOURS * HOUR}

    def project_run() -> float:
        query(project, "clear_project_hours.sql", window)
        execute(project, "CHECKPOINT", autocommit=True)
        return timed(lambda: [hourly.rollup_hour(project, DAY0 + i * HOUR) for i in range(HOURS)])

    def peer_direct() -> float:
        query(peer, "clear_peer_hours.sql", window)
        execute(peer, "CHECKPOINT", autocommit=True)
        query(peer, "catch_up_window.sql", {"first_hour": DAY0, "hours": HOURS, "compression": COMPRESSION})
        peer.autocommit = True  # the procedure commits each hour: no enclosing transaction
        try:
            return timed(lambda: peer.execute("CALL peer.catch_up()"))
        finally:
            peer.autocommit = False

    runs: dict[str, list[Any]] = {"project_in_process": [], "peer_direct": [], "peer_cron_loop": [],
                                  "peer_cron_parallel": []}
    for i in range(CATCHUP_REPEAT):
        print(f"catch-up round {i + 1}/{CATCHUP_REPEAT}: project, peer direct, pg_cron loop, pg_cron parallel")
        runs["project_in_process"].append(project_run())
        runs["peer_direct"].append(peer_direct())
        runs["peer_cron_loop"].append(cron_catch_up(peer, "cron_loop.sql"))
        runs["peer_cron_parallel"].append(cron_catch_up(peer, "cron_parallel.sql"))
    out: dict[str, Any] = {k: summary(v) for k, v in runs.items() if k in ("project_in_process", "peer_direct")}
    for k in ("peer_cron_loop", "peer_cron_parallel"):
        out[k] = {**summary([r["seconds"] for r in runs[k]]),
                  "wait_for_start_s": [round(r["wait_for_start_s"], 3) for r in runs[k]],
                  "run_s": [round(r["run_s"], 3) for r in runs[k]], "jobs": runs[k][0]["jobs"]}
    return out


# ---------------------------------------------------------------- the other jobs

def hourly_pair(project: Any, peer: Any) -> dict[str, Any]:
    mid = DAY0 + (HOURS // 2) * HOUR
    p = {"start": mid, "compression": COMPRESSION}
    return alternate({
        "project": (lambda: query(project, "project_clear_hour.sql", p),
                    lambda: timed(lambda: hourly.rollup_hour(project, mid))),
        "peer": (lambda: query(peer, "peer_clear_hour.sql", p),
                 lambda: timed(lambda: query(peer, "peer_hour.sql", p))),
    }, REPEAT)


def period_pairs(project: Any, peer: Any) -> dict[str, Any]:
    day = DAY0.date()
    # As in production, the week's other days are current before the weekly run (untimed): they
    # have no runs here, the loaded day is the week's only data.
    periods.bring_days_up_to_date(project, day + timedelta(days=1), day + timedelta(days=7))
    daily = alternate({
        "project": (lambda: query(project, "clear_project_day.sql", {"day": day}),
                    lambda: timed(lambda: periods.daily(project, day))),
        "peer": (lambda: None, lambda: timed(lambda: query(peer, "peer_day.sql", {"day": day}))),
    }, REPEAT)
    weekly = alternate({
        "project": (lambda: query(project, "clear_project_week.sql", {"week": day}),
                    lambda: timed(lambda: periods.weekly(project, day))),
        "peer": (lambda: None, lambda: timed(lambda: query(peer, "peer_week.sql", {"week": day}))),
    }, REPEAT)
    return {"daily": daily, "weekly": weekly}


def retention_pair(project: Any, peer: Any) -> dict[str, Any]:
    """Both sides drop the loaded day, once (it is gone after): what the cleanup DAG runs,
    against what a nightly pg_cron job runs for pg_partman."""
    day = DAY0.date()
    today = datetime.now(UTC).date()
    keep = retention.Retention(raw_days=(today - day).days - 1, hourly_days=(today - day).days + 400,
                               job_runs_days=400)
    query(peer, "partman_retention.sql", {"first_day": day})
    p = timed(lambda: retention.cleanup(project, today, keep))
    q = timed(lambda: query(peer, "run_maintenance.sql"))
    bounds = {"start": DAY0, "end": DAY0 + timedelta(days=1)}
    ((p_left, p_parts),) = query(project, "day_rows_left.sql", bounds)
    ((q_left, q_parts),) = query(peer, "day_rows_left.sql", bounds)
    if p_left or q_left:
        raise RuntimeError(f"retention left rows of {day}: project {p_left}, peer {q_left}")
    return {"project": summary([p]), "peer": summary([q]), "partitions_left": {"project": p_parts, "peer": q_parts},
            "day": day.isoformat()}


# ---------------------------------------------------------------- accuracy and agreement

def p99(values: list[float]) -> float:
    """Nearest-rank 99th percentile (percentile_disc(0.99))."""
    ordered = sorted(values)
    return ordered[max(math.ceil(0.99 * len(ordered)) - 1, 0)]


def errors(project: Any, peer: Any) -> dict[str, Any]:
    bounds = {"first_hour": DAY0, "end_hour": DAY0 + HOURS * HOUR}
    exact = {(g, w, p): (v, u) for g, w, p, v, u in query(peer, "exact.sql", bounds)}
    week = DAY0.date() - timedelta(days=DAY0.weekday())
    est_params = {**bounds, "first_day": DAY0.date(), "end_day": (DAY0 + HOURS * HOUR - HOUR).date() + timedelta(days=1),
                  "week": week}
    rows = ([("project", *r) for r in query(project, "estimates_project.sql", est_params)]
            + [("peer", *r) for r in query(peer, "estimates_peer.sql", est_params)])
    out: dict[str, Any] = {}
    users: dict[str, list[float]] = {}
    for side, grain, how, ws, period, p95, n_users in rows:
        ref, ref_users = exact.get((grain, ws, period), (None, None))
        key = f"{grain}/{side}/{how}"
        entry = out.setdefault(key, {"rel": [], "missing": 0})
        if ref is None or p95 is None:
            entry["missing"] += (ref is None) != (p95 is None)
            continue
        entry["rel"].append(abs(p95 - ref) / ref if ref else abs(p95))
        if grain == "week" and ref_users:
            users.setdefault(side, []).append(abs(n_users - ref_users) / ref_users)
    result = {}
    for key, entry in sorted(out.items()):
        rel = entry["rel"]
        result[key] = {"n": len(rel), "missing": entry["missing"], "worst": max(rel, default=None),
                       "p99": p99(rel) if rel else None, "mean": statistics.fmean(rel) if rel else None}
    result["active_users_week"] = {side: {"n": len(v), "worst": max(v), "p99": p99(v)} for side, v in users.items()}
    return result


def agreement(project: Any, peer: Any) -> dict[str, Any]:
    """The daily outputs both sides compute exactly must be equal (avg runtime to 1e-9)."""
    params = {"first_day": DAY0.date(), "end_day": (DAY0 + HOURS * HOUR - HOUR).date() + timedelta(days=1)}
    a = {(r[0], r[1]): r[2:] for r in query(project, "outputs_project.sql", params)}
    b = {(r[0], r[1]): r[2:] for r in query(peer, "outputs_peer.sql", params)}
    differ = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        same = x is not None and y is not None and x[:4] == y[:4] and x[5] == y[5] and (
            x[4] == y[4] or abs(x[4] - y[4]) <= 1e-9 * abs(y[4]))
        if not same:
            differ.append(f"{key[0]} {key[1]}: {x} != {y}")
    return {"workspace_days": len(set(a) | set(b)), "differ": len(differ), "examples": differ[:3],
            "columns": "total, successful, failed, credits, avg_runtime, active_users"}


# ---------------------------------------------------------------- report

def ratio(project_s: float, peer_s: float) -> float:
    return project_s / peer_s


def report(results: dict[str, Any]) -> None:
    rows = []
    for job in ("hourly", "daily", "weekly", "retention"):
        r = results[job]
        p, q = r["project"], r["peer"]
        rows.append([job, f"{p['median_s']:.3f}", f"{q['median_s']:.3f}", f"{ratio(p['median_s'], q['median_s']):.2f}",
                     f"{p['min_s']:.3f}-{p['max_s']:.3f} / {q['min_s']:.3f}-{q['max_s']:.3f}"])
    c = results["catch_up"]
    project = c["project_in_process"]
    for k in ("peer_direct", "peer_cron_loop", "peer_cron_parallel"):
        q = c[k]
        rows.append([f"catch_up vs {k}", f"{project['median_s']:.3f}", f"{q['median_s']:.3f}",
                     f"{ratio(project['median_s'], q['median_s']):.2f}",
                     f"{project['min_s']:.3f}-{project['max_s']:.3f} / {q['min_s']:.3f}-{q['max_s']:.3f}"])
    for k in ("peer_cron_loop", "peer_cron_parallel"):
        run = statistics.median(c[k]["run_s"])
        rows.append([f"catch_up vs {k}, its run only", f"{project['median_s']:.3f}", f"{run:.3f}",
                     f"{ratio(project['median_s'], run):.2f}", "first start to last end"])
    print()
    print(tabulate(rows, headers=["job", "project s", "peer s", "project/peer", "spread (min-max)"]))
    for k in ("peer_cron_loop", "peer_cron_parallel"):
        print(f"{k}: waited {c[k]['wait_for_start_s']} s for pg_cron to start, ran {c[k]['run_s']} s")
    erows = []
    for key, e in results["p95_error"].items():
        if key == "active_users_week":
            continue
        erows.append([key, e["n"], e["missing"], _pct(e["worst"]), _pct(e["p99"]), _pct(e["mean"])])
    for side, e in results["p95_error"]["active_users_week"].items():
        erows.append([f"active users week/{side}", e["n"], 0, _pct(e["worst"]), _pct(e["p99"]), ""])
    print()
    print(tabulate(erows, headers=["p95 (grain/side/how)", "rows", "missing", "worst", "p99", "mean"]))
    ag = results["agreement"]
    print(f"\nexact daily outputs ({ag['columns']}): {ag['differ']} of {ag['workspace_days']} workspace-days differ")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"written to {RESULTS}")


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.3f}%"


def main() -> int:
    installed = ensure_packages()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
        "load_at_start": load(), "rows_per_hour": ROWS, "hours": HOURS, "workspaces": WORKSPACES,
        "first_hour": DAY0.isoformat(), "repeat": REPEAT, "catch_up_repeat": CATCHUP_REPEAT,
        "tdigest_compression": COMPRESSION, "packages_installed": installed}
    print(f"bench-peer on {results['machine']} (load {results['load_at_start']}): {ROWS:,} runs/hour x {HOURS} "
          f"hours from {DAY0:%Y-%m-%d}, {WORKSPACES} workspaces")
    start_cluster()
    try:
        admin("CREATE DATABASE project")
        admin("CREATE DATABASE peer")
        pg_ctl("-l", str(PGDATA / "server.log"), "restart")  # pg_cron's launcher finds its database
        project, peer = connect(dsn("project")), connect(dsn("peer"))
        peer.execute("CREATE EXTENSION pg_cron")
        peer.commit()
        ((server,),) = peer.execute("SHOW server_version").fetchall()
        peer.commit()
        load_project(project)
        versions = {"server": server, "pg_partman": load_peer(peer)}
        for ext in ("pg_cron", "tdigest", "hll"):
            versions[ext] = peer.execute("SELECT extversion FROM pg_extension WHERE extname = %s", (ext,)).fetchone()[0]
        peer.commit()
        results["versions"] = versions
        fingerprints = query(project, "raw_checksum.sql"), query(peer, "raw_checksum.sql")
        same = fingerprints[0] == fingerprints[1]
        if not same:
            raise RuntimeError(f"the two databases do not hold the same runs: {fingerprints}")
        results["same_raw_rows"] = same
        for conn in (project, peer):
            settle(conn)

        results["catch_up"] = catch_up(project, peer)
        results["hourly"] = hourly_pair(project, peer)
        results.update(period_pairs(project, peer))
        results["p95_error"] = errors(project, peer)
        results["agreement"] = agreement(project, peer)
        results["retention"] = retention_pair(project, peer)
        results["load_at_end"] = load()
        results["notes"] = {
            "ratio": "project seconds / peer seconds, medians; sides alternated (A B A B)",
            "hourly": "project = hourly.rollup_hour (rollup_hour.sql: exact p95, sketch, per-user rows, bad-row "
                      "checks, the invalidation log consumed); peer = peer.rollup_hour (percentile_cont p95, "
                      "t-digest, hll of users, per-user rows); both from an empty hour",
            "daily": "project = periods.daily (hours current, then the day from sketches); peer = the day from "
                     "its hourly rows, tdigest merge, exact active users from per-user rows",
            "weekly": "the loaded day is the week's only data; project = periods.weekly; peer = the week from "
                      "daily rows, tdigest merge, hll for active users",
            "retention": "project = retention.cleanup (what cleanup_old_data runs: make current, drop the "
                         "partition, expired rollups, analyze); peer = partman.run_maintenance(), once each",
            "catch_up": "24 hourly runs; project = hourly.rollup_hour called in-process; peer_direct = "
                        "CALL peer.catch_up() from a client; peer_cron_loop = one pg_cron job running it; "
                        "peer_cron_parallel = one pg_cron job per hour; cron seconds from scheduling to the "
                        "last run's end (cron.job_run_details); pg_cron 1.4 starts jobs at whole minutes, "
                        "so the wait for the next one is part of it (wait_for_start_s)",
            "p95_error": "relative error against PERCENTILE_CONT(0.95) of the raw rows (the contract's p95), "
                         "per workspace and hour, day, ISO week; p99 = nearest rank",
        }
        project.close()
        peer.close()
        report(results)
    finally:
        stop_cluster(remove=not KEEP)
    return 0


if __name__ == "__main__":
    sys.exit(main())
