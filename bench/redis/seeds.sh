#!/bin/bash
# seeds.sh [prefixed] — shows why compare.sh gives each redis-benchmark run its own
# transfer ids. redis-benchmark seeds random() with time(NULL) ^ getpid(), so two runs can
# draw the same __rand_int__ values. This forces that: it runs redis-benchmark in a new
# pid namespace with the pid (ns_last_pid) that makes its seed a chosen one, as compare.sh
# would (32x16, then one client), first with the 32x16 run's seed, then with another, and
# prints Redis's key count and AOF size after each run. With plain tx:__rand_int__ ids the
# one-client run with the same seed adds no key and no AOF byte: every transfer exists,
# transfer.lua writes nothing and Redis never syncs. With "prefixed" (per-run ids, as
# compare.sh does) it adds one transfer key per request. Needs root (unshare, ns_last_pid),
# redis-server, redis-cli, redis-benchmark; port 6393 free.
set -u
here=$(cd "$(dirname "$0")" && pwd)
prefixed=${1:-}
port=6393
dir=$(mktemp -d /tmp/seeds-redis.XXXX)
redis-server --port $port --dir "$dir" --appendonly yes --appendfsync always --save '' \
	--daemonize yes >/dev/null
sleep 0.5
sha=$(redis-cli -p $port SCRIPT LOAD "$(cat "$here/transfer.lua")")
transfer() { # transfer RUN: the EVALSHA arguments, ids per run when prefixed
	local id=tx:__rand_int__
	[ "$prefixed" = prefixed ] && id=tx:$1:__rand_int__
	echo EVALSHA "$sha" 3 acct:__rand_int__ acct:__rand_int__ "$id" 7
}
seeded() { # seeded SEED ARGS...: redis-benchmark ARGS with random() seeded with SEED
	local seed=$1
	shift
	unshare --pid --fork --mount-proc bash -c '
		pid=$(('"$seed"' ^ $(date +%s)))
		echo $((pid - 1)) >/proc/sys/kernel/ns_last_pid
		redis-benchmark "$@" &
		[ $! = $pid ] || echo "seeds.sh: pid $!, wanted $pid: seed missed" >&2
		wait $!' _ "$@"
}
state() {
	echo "keys $(redis-cli -p $port DBSIZE), AOF bytes $(redis-cli -p $port INFO persistence |
		tr -d '\r' | sed -n 's/^aof_current_size://p')"
}
seed=$(($(date +%s) ^ 4000)) # pids near 4000 for the next seconds
latency() { tail -1 | cut -d, -f2,5 | tr -d '"' | sed 's/,/ requests\/s, p50 ms /'; }
echo "32x16, seed S: $(seeded $seed -p $port -c 32 -P 16 -n 30000 -r 100000000 --csv \
	$(transfer many) 2>/dev/null | latency); $(state)"
echo "one client, seed S: $(seeded $seed -p $port -c 1 -P 1 -n 3000 -r 100000000 --csv \
	$(transfer one) 2>/dev/null | latency); $(state)"
echo "one client, another seed: $(seeded $((seed ^ 77)) -p $port -c 1 -P 1 -n 3000 \
	-r 100000000 --csv $(transfer other) 2>/dev/null | latency); $(state)"
redis-cli -p $port shutdown nosave >/dev/null 2>&1
rm -rf "$dir"
