#!/bin/bash
# crossed.sh OUTDIR ROUNDS BINARY_A BINARY_B — which side of a change moved the 32 x 16
# figure: every pairing of a `sequent serve` binary with a `sequent bench` binary (A+A,
# A+B, B+A, B+B), one transfer per request over 32 connections x 16 in flight, 6 s after
# 2 s of warm-up, a fresh server on a temporary data directory each time, the four
# pairings rotated every round (so each comes first equally often over a multiple of 4
# rounds). Needs curl and python3; ports 18810-18811 free. Prints one line per run
# (round, serve binary, bench binary, requests/s) and, at the end, the median and range
# of each pairing and of each serve binary over both benches; bench JSON goes to OUTDIR.
set -u
if [ $# -ne 4 ]; then
	echo "usage: $0 OUTDIR ROUNDS BINARY_A BINARY_B" >&2
	exit 2
fi
out=$1
rounds=$2
a=$3
b=$4
mkdir -p "$out"
port=18810
pairs=("$a $a" "$a $b" "$b $a" "$b $b")
for round in $(seq 1 "$rounds"); do
	for k in 0 1 2 3; do
		set -- ${pairs[$(((k + round) % 4))]}
		serve=$1
		bench=$2
		name="s-$(basename "$serve")-b-$(basename "$bench")-$round"
		data=$(mktemp -d /tmp/crossed-data.XXXX)
		"$serve" serve --data "$data" --addr 127.0.0.1:$port --http 127.0.0.1:$((port + 1)) \
			>"$out/$name.log" 2>&1 &
		pid=$!
		for _ in $(seq 1 100); do
			curl -sf http://127.0.0.1:$((port + 1))/healthz >/dev/null && break
			sleep 0.2
		done
		"$bench" bench --addr 127.0.0.1:$port --http 127.0.0.1:$((port + 1)) \
			--keys "$data/keys.json" --events 1 --connections 32 --inflight 16 \
			--duration 6s --warmup 2s --json >"$out/$name.json" 2>>"$out/$name.log"
		kill "$pid"
		wait "$pid" 2>/dev/null
		rm -rf "$data"
		python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(sys.argv[2], sys.argv[3], sys.argv[4], round(d['requests_per_s']))" \
			"$out/$name.json" "$round" "$(basename "$serve")" "$(basename "$bench")" | tee -a "$out/runs.txt"
	done
done
python3 - "$out/runs.txt" <<'PY'
import statistics, sys
pairs, serves = {}, {}
for line in open(sys.argv[1]):
    _, serve, bench, rate = line.split()
    pairs.setdefault((serve, bench), []).append(int(rate))
    serves.setdefault(serve, []).append(int(rate))
for (serve, bench), rates in sorted(pairs.items()):
    print(f"serve {serve} bench {bench}: median {statistics.median(rates):,.0f} ({min(rates):,}-{max(rates):,}) over {len(rates)}")
for serve, rates in sorted(serves.items()):
    print(f"serve {serve}, both benches: median {statistics.median(rates):,.0f} ({min(rates):,}-{max(rates):,}) over {len(rates)}")
PY
