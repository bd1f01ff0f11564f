#!/bin/bash
# compare.sh OUTDIR ROUNDS SEQUENT_BINARY... — issue 15's end-to-end comparison: for each
# round and each binary (order rotated every round), a fresh `sequent serve` on a
# temporary data directory, `sequent bench` with one transfer per request over 32
# connections x 16 in flight and then over one connection with one in flight, then Redis
# (appendfsync always, the Lua transfer of transfer.lua next to this script) driven by
# redis-benchmark in the same two shapes. Needs redis-server, redis-cli, redis-benchmark
# and curl; ports 18810-18811 and 6391 free. Raw outputs (bench JSON, redis CSV, the AOF
# bytes Redis's one-client run appended, uptime) go to OUTDIR; summarize.py OUTDIR prints
# them side by side. A binary given as PATH@wire runs its bench with --driver wire (the
# lean load generator) and is named NAME-wire in the outputs; the same PATH may be given
# twice, with and without @wire.
set -u
if [ $# -lt 3 ]; then
	echo "usage: $0 OUTDIR ROUNDS SEQUENT_BINARY..." >&2
	exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
out=$1
rounds=$2
shift 2
binaries=("$@")
mkdir -p "$out"
port=18810
redis_port=6391
for round in $(seq 1 "$rounds"); do
	count=${#binaries[@]}
	order=()
	for i in $(seq 0 $((count - 1))); do order+=("${binaries[$(((i + round) % count))]}"); done
	for spec in "${order[@]}"; do
		binary=${spec%@wire}
		name=$(basename "$binary")
		driver=() # Empty for the client driver: binaries older than --driver run too.
		if [ "$spec" != "$binary" ]; then
			driver=(--driver wire)
			name=$name-wire
		fi
		data=$(mktemp -d /tmp/compare-data.XXXX)
		"$binary" serve --data "$data" --addr 127.0.0.1:$port --http 127.0.0.1:$((port + 1)) \
			>"$out/serve-$name-$round.log" 2>&1 &
		pid=$!
		for _ in $(seq 1 100); do
			curl -sf http://127.0.0.1:$((port + 1))/healthz >/dev/null && break
			sleep 0.2
		done
		uptime >"$out/load-$name-$round.txt"
		for shape in "many 32 16" "one 1 1"; do
			set -- $shape
			"$binary" bench --addr 127.0.0.1:$port --http 127.0.0.1:$((port + 1)) \
				--keys "$data/keys.json" --events 1 --connections "$2" --inflight "$3" \
				--duration 6s --warmup 2s "${driver[@]}" --json >"$out/$1-$name-$round.json" 2>"$out/$1-$name-$round.err"
		done
		kill $pid
		wait $pid 2>/dev/null
		rm -rf "$data"
	done
	redis_dir=$(mktemp -d /tmp/compare-redis.XXXX)
	redis-server --port $redis_port --dir "$redis_dir" --appendonly yes --appendfsync always \
		--save '' --daemonize yes >/dev/null
	sleep 0.5
	sha=$(redis-cli -p $redis_port SCRIPT LOAD "$(cat "$here/transfer.lua")")
	# Each run has its own transfer ids: redis-benchmark seeds random() with
	# time(NULL) ^ getpid(), which two runs a few seconds and pids apart share often
	# enough (2 of 8 rounds in session 51). A run seeded as an earlier one draws the same
	# ids, every transfer exists, transfer.lua writes nothing and Redis never syncs.
	transfer() { echo EVALSHA "$sha" 3 acct:__rand_int__ acct:__rand_int__ "tx:$1:__rand_int__" 7; }
	redis-benchmark -p $redis_port -c 32 -P 16 -n 150000 -r 100000000 --csv $(transfer many) \
		>"$out/redis-many-$round.csv" 2>/dev/null
	redis-benchmark -p $redis_port -c 1 -P 1 -n 3000 -r 100000000 --csv $(transfer warm) \
		>/dev/null 2>&1 # warm-up
	aof_bytes() { redis-cli -p $redis_port INFO persistence | tr -d '\r' | sed -n 's/^aof_current_size://p'; }
	before=$(aof_bytes)
	redis-benchmark -p $redis_port -c 1 -P 1 -n 20000 -r 100000000 --csv $(transfer one) \
		>"$out/redis-one-$round.csv" 2>/dev/null
	# The AOF bytes the one-client run appended (296 per transfer when every one wrote).
	echo $(($(aof_bytes) - before)) >"$out/redis-one-$round.aof-bytes"
	redis-cli -p $redis_port shutdown nosave >/dev/null 2>&1
	rm -rf "$redis_dir"
done
