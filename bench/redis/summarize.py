#!/usr/bin/env python3
"""summarize.py OUTDIR — prints compare.sh's results: per round, each Sequent binary's
requests/s and latencies in both shapes next to Redis's, then medians (min-max) and the
per-round ratios Sequent / Redis (requests/s for 32x16, client p50 for one client)."""
import csv, glob, json, os, statistics, sys

out = sys.argv[1]
one_client_requests = 20000  # compare.sh's redis-benchmark -n for one client
# AOF bytes per one-client request below which a round is flagged. A transfer that writes
# appends 296 B (tx:one: ids; redis-server 7.0.15, review52d), one that exists none: 250
# let 15% of no-ops pass (a 3,000-request warm-up run sharing the seed of the 20,000 made
# 251.6 B a request), 285 flags more than ~4%.
aof_bytes_per_request_min = 285


def bench(path):
    report = json.load(open(path))
    server = report["server_status"]["after"]["request_latency_us"]["create_transfers"]
    return {"rps": report["requests_per_s"], "p50": report["latency_us"]["p50"],
            "p99": report["latency_us"]["p99"], "server_p50": server["p50"],
            "server_p99": server["p99"]}


def redis(path):
    rows = list(csv.reader(open(path)))
    row = dict(zip(rows[0], rows[1]))
    return {"rps": float(row["rps"]), "p50": float(row["p50_latency_ms"]) * 1000,
            "p99": float(row["p99_latency_ms"]) * 1000}


def spread(values):
    return f"{statistics.median(values):,.2f} ({min(values):,.2f}-{max(values):,.2f})"


rounds = sorted({int(path.rsplit("-", 1)[1].split(".")[0]) for path in glob.glob(out + "/redis-many-*.csv")})
names = sorted({os.path.basename(path)[5:].rsplit("-", 1)[0] for path in glob.glob(out + "/many-*.json")})
table = {}
for r in rounds:
    for shape in ("many", "one"):
        table[("redis", shape, r)] = redis(f"{out}/redis-{shape}-{r}.csv")
        for name in names:
            table[(name, shape, r)] = bench(f"{out}/{shape}-{name}-{r}.json")
for name in names + ["redis"]:
    many = [table[(name, "many", r)] for r in rounds]
    one = [table[(name, "one", r)] for r in rounds]
    print(f"{name}: 32x16 requests/s {spread([m['rps'] for m in many])}, client p99 us "
          f"{spread([m['p99'] for m in many])}", end="")
    if name != "redis":
        print(f", server p50 us {spread([m['server_p50'] for m in many])}, server p99 us "
              f"{spread([m['server_p99'] for m in many])}", end="")
    print(f"; one client p50 us {spread([o['p50'] for o in one])}, p99 us {spread([o['p99'] for o in one])}")
# Redis's one-client run must have written every transfer (transfer.lua writes nothing for
# an id that exists, and then Redis does not sync): flag a round where it did not.
for r in rounds:
    path = f"{out}/redis-one-{r}.aof-bytes"
    if os.path.exists(path):
        appended = int(open(path).read())
        if appended < one_client_requests * aof_bytes_per_request_min:
            print(f"WARNING: round {r}: Redis's one-client run appended {appended} AOF bytes, "
                  f"under {aof_bytes_per_request_min} per request: its transfers did not all "
                  f"write (and sync)")
for name in names:
    many = [table[(name, "many", r)]["rps"] / table[("redis", "many", r)]["rps"] for r in rounds]
    one = [table[(name, "one", r)]["p50"] / table[("redis", "one", r)]["p50"] for r in rounds]
    print(f"{name} / redis: 32x16 requests/s {spread(many)} per round {[round(x, 2) for x in many]}; "
          f"one client p50 {spread(one)} per round {[round(x, 2) for x in one]}")
