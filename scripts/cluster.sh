#!/usr/bin/env bash
# A local Strata cluster on 127.0.0.1, for trying a cluster out and for the
# end-to-end scripts: three nats-server nodes (JetStream, sync_interval:
# always) and three gateways (node ids 1-3, R3 buckets), all sharing the
# object store under DIR/shared.
#
#   scripts/cluster.sh up DIR          start it; prints the Kafka bootstrap servers
#   scripts/cluster.sh kill DIR N      SIGKILL gateway N (1-3)
#   scripts/cluster.sh start DIR N     start gateway N again
#   scripts/cluster.sh down DIR        stop everything (gateways with SIGTERM)
#
# Environment: STRATA_BIN (default bin/strata), BASE_PORT (default 19000:
# NATS clients on BASE+1..3, routes BASE+11..13, monitoring BASE+41..43, Kafka
# BASE+21..23, HTTP BASE+31..33), GATEWAY_LEASE (default 10s),
# NUM_PARTITIONS (of auto-created topics, default 6). Logs are
# DIR/nats-N.log and DIR/gateway-N.log; process ids DIR/*.pid.
set -euo pipefail

cmd=${1:?usage: cluster.sh up|kill|start|down DIR [N]}
dir=${2:?usage: cluster.sh up|kill|start|down DIR [N]}
here=$(dirname "$0")
bin=${STRATA_BIN:-bin/strata}
base=${BASE_PORT:-19000}
lease=${GATEWAY_LEASE:-10s}
partitions=${NUM_PARTITIONS:-6}
nats_urls="nats://127.0.0.1:$((base + 1)),nats://127.0.0.1:$((base + 2)),nats://127.0.0.1:$((base + 3))"
monitor_urls="http://127.0.0.1:$((base + 41)),http://127.0.0.1:$((base + 42)),http://127.0.0.1:$((base + 43))"

fail() {
	echo "cluster: $*" >&2
	exit 1
}

# wait_for runs "$@" every 0.1s until it succeeds, for at most 30s.
wait_for() {
	for _ in $(seq 1 300); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

start_nats() {
	local i=$1 routes=""
	for j in 1 2 3; do
		[ "$j" = "$i" ] || routes="$routes nats://127.0.0.1:$((base + 10 + j))"
	done
	mkdir -p "$dir/nats-$i"
	cat >"$dir/nats-$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:$((base + i))
http: 127.0.0.1:$((base + 40 + i))
# A WAL message carries whole Kafka batches (max.message.bytes is 1 MiB).
max_payload: 8MB
jetstream {
	store_dir: "$dir/nats-$i"
	# Every write fsynced before it is acknowledged (Jepsen, NATS 2.12.1).
	sync_interval: always
}
cluster {
	name: strata-local
	listen: 127.0.0.1:$((base + 10 + i))
	routes: [$(echo "$routes" | sed 's/^ //; s/ /, /g')]
}
CONF
	"$nats" -c "$dir/nats-$i.conf" >"$dir/nats-$i.log" 2>&1 &
	echo $! >"$dir/nats-$i.pid"
}

start_gateway() {
	local i=$1
	: >"$dir/gateway-$i.log"
	"$bin" serve --listen "127.0.0.1:$((base + 20 + i))" --http-listen "127.0.0.1:$((base + 30 + i))" --schema-registry-listen "127.0.0.1:$((base + 50 + i))" \
		--data-dir "$dir/shared" --nats-url "$nats_urls" --nats-monitor-url "$monitor_urls" --nats-replicas 3 --node-id "$i" \
		--gateway-lease "$lease" --num-partitions "$partitions" --flush-interval 50ms >"$dir/gateway-$i.log" 2>&1 &
	echo $! >"$dir/gateway-$i.pid"
	wait_for grep -q 'msg="serving kafka"' "$dir/gateway-$i.log" ||
		fail "gateway $i did not start: $(tail -n 20 "$dir/gateway-$i.log")"
}

stop_pid() {
	local f=$1 sig=$2
	[ -f "$f" ] || return 0
	local pid
	pid=$(cat "$f")
	kill "-$sig" "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$f"
}

case "$cmd" in
up)
	[ -x "$bin" ] || fail "$bin not built (make build)"
	nats=$("$here/install-nats.sh")
	mkdir -p "$dir/shared"
	for i in 1 2 3; do start_nats "$i"; done
	for i in 1 2 3; do
		# healthz is ok once JetStream has a meta leader and is current.
		wait_for curl -fs "http://127.0.0.1:$((base + 40 + i))/healthz" ||
			fail "nats node $i is not healthy: $(tail -n 20 "$dir/nats-$i.log")"
	done
	for i in 1 2 3; do start_gateway "$i"; done
	echo "127.0.0.1:$((base + 21)),127.0.0.1:$((base + 22)),127.0.0.1:$((base + 23))"
	;;
kill)
	i=${3:?usage: cluster.sh kill DIR N}
	stop_pid "$dir/gateway-$i.pid" KILL
	;;
start)
	i=${3:?usage: cluster.sh start DIR N}
	start_gateway "$i"
	;;
down)
	for i in 1 2 3; do stop_pid "$dir/gateway-$i.pid" TERM; done
	for i in 1 2 3; do stop_pid "$dir/nats-$i.pid" TERM; done
	;;
*)
	fail "unknown command $cmd"
	;;
esac
