#!/usr/bin/env bash
# End-to-end check of the local stack (localstack/run.sh) with an unmodified
# client (kcat): MinIO, three NATS nodes and three gateways on loopback. kcat
# produces 10,000 keyed messages with idempotence and acks=all; one gateway
# and one NATS node are SIGKILLed and another 10,000 go in while they are
# down; kcat reads all 20,000 back through the two gateways left, then again
# once both nodes are back; the stack goes down.
#
# Usage: scripts/e2e-cluster.sh path/to/strata
set -euo pipefail

export STRATA_BIN=${1:?usage: e2e-cluster.sh path/to/strata}
root=$(cd "$(dirname "$0")/.." && pwd)
stack=$root/localstack/run.sh
name=e2e-cluster
topic=e2e-cluster
work=$(mktemp -d)
export LOCALSTACK_DIR=$work/stack GATEWAY_LEASE=2s NUM_PARTITIONS=6
cleanup() {
	"$stack" down >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "$name: FAIL: $*" >&2
	tail -n 20 "$LOCALSTACK_DIR"/gateway-*.log >&2 || true
	exit 1
}

# Ports below Linux's ephemeral range (32768 up), so that no outgoing
# connection holds one; a port some service listens on makes `up` fail, and
# another base is tried.
brokers="" why=""
for _ in 1 2 3; do
	export BASE_PORT=$((20000 + RANDOM % 12000))
	if brokers=$("$stack" up 2>"$work/up.err" | tail -n 1); then
		[ -n "$brokers" ] && break
	fi
	why=$(tail -n 1 "$work/up.err")
	echo "$name: stack did not start on base port $BASE_PORT, trying another: $why"
	"$stack" down >/dev/null 2>&1 || true
	rm -rf "$LOCALSTACK_DIR"
	brokers=""
done
[ -n "$brokers" ] || fail "stack did not start: $why"
echo "$name: MinIO, three NATS nodes and three gateways serving on $brokers"
"$stack" status

# Each gateway sees the others join within its membership refresh (up to a
# second), so ask every one of them, not whichever kcat picks.
all_list() { # COUNT BROKERS
	local b
	for b in ${2//,/ }; do
		[ "$(kcat -L -b "$b" 2>/dev/null | grep -c '^  broker ')" = "$1" ] || return 1
	done
}
for _ in $(seq 1 100); do
	all_list 3 "$brokers" && break
	sleep 0.1
done
all_list 3 "$brokers" || fail "metadata does not list three brokers"

produce() { # from to
	seq "$1" "$2" | awk '{ printf "key-%d:value-%06d\n", $1 % 100, $1 }' >"$work/batch.txt"
	cat "$work/batch.txt" >>"$work/produced.txt"
	kcat -P -b "$brokers" -t "$topic" -K: -X enable.idempotence=true -X acks=all <"$work/batch.txt" 2>"$work/produce.err" ||
		fail "kcat produce: $(cat "$work/produce.err")"
}
consume_all() { # BROKERS WHAT
	kcat -C -b "$1" -t "$topic" -o beginning -e -q -f '%k:%s\n' >"$work/consumed.txt" 2>"$work/consume.err" ||
		fail "kcat consume ($2): $(cat "$work/consume.err")"
	[ "$(wc -l <"$work/consumed.txt")" -eq 20000 ] || fail "consumed $(wc -l <"$work/consumed.txt") messages ($2), want 20000"
	sort "$work/produced.txt" | cmp -s - <(sort "$work/consumed.txt") || fail "consumed messages differ from produced ones ($2)"
	# kcat prints each partition in offset order: per key, values ascend.
	awk -F: '{ if (($1 in last) && $2 <= last[$1]) bad++; last[$1] = $2 } END { exit bad > 0 }' "$work/consumed.txt" ||
		fail "a key's values are out of order ($2)"
}

produce 1 10000
"$stack" kill gateway-2
"$stack" kill nats-3
echo "$name: produced 10000 messages, killed gateway-2 and nats-3"
produce 10001 20000
survivors=$(echo "$brokers" | tr ',' '\n' | sed -n '1p;3p' | paste -sd,)
consume_all "$survivors" "gateway-2 and nats-3 down"
echo "$name: produced 10000 more while they were down; read all 20000 back through $survivors"

"$stack" start nats-3
"$stack" start gateway-2
for _ in $(seq 1 100); do
	all_list 3 "$brokers" && break
	sleep 0.1
done
consume_all "$brokers" "all nodes back"
echo "$name: started both again; read all 20000 back through the three gateways, content and order per key match"
"$stack" down
"$stack" status | grep -q running && fail "nodes still running after down: $("$stack" status)"
echo "$name: 1 passed, 0 failed"
