#!/usr/bin/env bash
# The local stack without Docker: the topology of localstack/compose.yaml as
# processes on 127.0.0.1, from the binaries `make test` builds. A MinIO
# server holding the segment bucket, three nats-server nodes (JetStream,
# sync_interval: always, R3) and three gateways (node ids 1-3, racks a-c).
#
#   localstack/run.sh up            start it; the last line of output is the
#                                   Kafka bootstrap servers, comma-separated
#   localstack/run.sh status        each node, its address and whether it runs
#   localstack/run.sh kill NODE     SIGKILL one node: gateway-N, nats-N (N 1-3)
#                                   or minio
#   localstack/run.sh start NODE    start a stopped or killed node again
#   localstack/run.sh down          stop everything (gateways first, SIGTERM)
#
# Environment:
#   LOCALSTACK_DIR  where state, logs and process ids go (default
#                   ./localstack-data): DIR/<node>.log, DIR/<node>.pid
#   STRATA_BIN      the strata binary (default bin/strata)
#   OBJECT_STORE    minio (default) or file: the gateways share DIR/shared
#                   instead of a bucket
#   BASE_PORT       default 19000. NATS clients BASE+1..3, routes BASE+11..13,
#                   Kafka BASE+21..23, HTTP BASE+31..33, NATS monitoring
#                   BASE+41..43, schema registry BASE+51..53, MinIO BASE+61
#                   (console BASE+62)
#   GATEWAY_LEASE   default 10s: how soon a killed gateway's partitions move
#   NUM_PARTITIONS  of auto-created topics, default 6
#
# The settings (addresses, ports, object store) are written to DIR/env at
# `up`; the other commands read them from there, so they need only DIR.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: run.sh up|status|down|kill NODE|start NODE"
cmd=${1:?$usage}
dir=${LOCALSTACK_DIR:-./localstack-data}

fail() {
	echo "localstack: $*" >&2
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

running() { # NODE
	local f="$dir/$1.pid"
	[ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

stop_node() { # NODE SIGNAL
	local f="$dir/$1.pid" pid
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	kill "-$2" "$pid" 2>/dev/null || true
	for _ in $(seq 1 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$f"
}

# MinIO's root credentials: the gateways' S3 credentials too. A local stack
# for trying things out, never reachable off the machine.
minio_user=strata-local
minio_password=strata-local-secret

start_minio() {
	local minio
	minio=$("$root/scripts/install-minio.sh" "$(sed -n 's/^MINIO_VERSION := //p' "$root/Makefile")")
	mkdir -p "$dir/minio"
	: >"$dir/minio.log"
	MINIO_ROOT_USER=$minio_user MINIO_ROOT_PASSWORD=$minio_password MINIO_BROWSER=off MINIO_UPDATE=off MINIO_CI_CD=on \
		"$minio" server --address "127.0.0.1:$((base + 61))" --console-address "127.0.0.1:$((base + 62))" \
		"$dir/minio" >"$dir/minio.log" 2>&1 &
	echo $! >"$dir/minio.pid"
	wait_for curl -fs "http://127.0.0.1:$((base + 61))/minio/health/ready" ||
		fail "minio did not start: $(tail -n 20 "$dir/minio.log")"
}

start_nats() { # N
	local i=$1 routes="" nats
	nats=$("$root/scripts/install-nats.sh")
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
	"$nats" -c "$dir/nats-$i.conf" >>"$dir/nats-$i.log" 2>&1 &
	echo $! >"$dir/nats-$i.pid"
}

start_gateway() { # N
	local i=$1 store=()
	local racks=(a b c)
	if [ "$object_store" = minio ]; then
		store=(--object-store s3 --s3-endpoint "http://127.0.0.1:$((base + 61))" --s3-bucket strata
			--s3-path-style --s3-create-bucket)
	fi
	: >"$dir/gateway-$i.log"
	AWS_ACCESS_KEY_ID=$minio_user AWS_SECRET_ACCESS_KEY=$minio_password \
		"$bin" serve --listeners "PLAINTEXT://127.0.0.1:$((base + 20 + i))" --http-listen "127.0.0.1:$((base + 30 + i))" \
		--schema-registry-listen "127.0.0.1:$((base + 50 + i))" --data-dir "$dir/shared" "${store[@]}" \
		--nats-url "$nats_urls" --nats-monitor-url "$monitor_urls" --nats-replicas 3 --node-id "$i" \
		--rack "${racks[$((i - 1))]}" --gateway-lease "$lease" --num-partitions "$partitions" \
		--flush-interval 50ms >"$dir/gateway-$i.log" 2>&1 &
	echo $! >"$dir/gateway-$i.pid"
	wait_for grep -q 'msg="serving kafka"' "$dir/gateway-$i.log" ||
		fail "gateway $i did not start: $(tail -n 20 "$dir/gateway-$i.log")"
}

start_node() { # NODE
	running "$1" && fail "$1 is already running"
	case "$1" in
	minio) start_minio ;;
	nats-[123]) start_nats "${1#nats-}" ;;
	gateway-[123]) start_gateway "${1#gateway-}" ;;
	*) fail "unknown node $1 (gateway-N, nats-N or minio)" ;;
	esac
}

load_env() {
	[ -f "$dir/env" ] || fail "no stack in $dir (run.sh up first, or set LOCALSTACK_DIR)"
	# shellcheck source=/dev/null
	. "$dir/env"
	nats_urls="nats://127.0.0.1:$((base + 1)),nats://127.0.0.1:$((base + 2)),nats://127.0.0.1:$((base + 3))"
	monitor_urls="http://127.0.0.1:$((base + 41)),http://127.0.0.1:$((base + 42)),http://127.0.0.1:$((base + 43))"
}

nodes() {
	[ "$object_store" = minio ] && echo minio
	echo nats-1 nats-2 nats-3 gateway-1 gateway-2 gateway-3
}

case "$cmd" in
up)
	if [ -f "$dir/env" ]; then
		load_env
		for n in $(nodes); do
			running "$n" && fail "a stack is already running in $dir ($n); run.sh down first"
		done
	fi
	bin=${STRATA_BIN:-bin/strata}
	[ -x "$bin" ] || fail "$bin not built (make build)"
	mkdir -p "$dir/shared"
	dir=$(cd "$dir" && pwd)
	bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
	object_store=${OBJECT_STORE:-minio}
	case "$object_store" in minio | file) ;; *) fail "OBJECT_STORE is minio or file, not $object_store" ;; esac
	cat >"$dir/env" <<ENV
bin='$bin'
object_store=$object_store
base=${BASE_PORT:-19000}
lease=${GATEWAY_LEASE:-10s}
partitions=${NUM_PARTITIONS:-6}
ENV
	load_env
	[ "$object_store" = minio ] && start_minio
	for i in 1 2 3; do start_nats "$i"; done
	for i in 1 2 3; do
		# healthz is ok once JetStream has a meta leader and is current.
		wait_for curl -fs "http://127.0.0.1:$((base + 40 + i))/healthz" ||
			fail "nats node $i is not healthy: $(tail -n 20 "$dir/nats-$i.log")"
	done
	for i in 1 2 3; do start_gateway "$i"; done
	echo "schema registry: http://127.0.0.1:$((base + 51))"
	echo "127.0.0.1:$((base + 21)),127.0.0.1:$((base + 22)),127.0.0.1:$((base + 23))"
	;;
status)
	load_env
	for n in $(nodes); do
		case "$n" in
		minio) addr="http://127.0.0.1:$((base + 61))" ;;
		nats-*) addr="nats://127.0.0.1:$((base + ${n#nats-}))" ;;
		gateway-*) addr="127.0.0.1:$((base + 20 + ${n#gateway-}))" ;;
		esac
		state=stopped
		running "$n" && state="running (pid $(cat "$dir/$n.pid"))"
		printf '%-10s %-28s %s\n' "$n" "$addr" "$state"
	done
	;;
kill)
	node=${2:?$usage}
	load_env
	nodes | tr ' ' '\n' | grep -qx "$node" || fail "unknown node $node"
	stop_node "$node" KILL
	;;
start)
	node=${2:?$usage}
	load_env
	start_node "$node"
	;;
down)
	load_env
	for i in 1 2 3; do stop_node "gateway-$i" TERM; done
	for i in 1 2 3; do stop_node "nats-$i" TERM; done
	stop_node minio TERM
	;;
*)
	fail "unknown command $cmd; $usage"
	;;
esac
