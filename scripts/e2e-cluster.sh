#!/usr/bin/env bash
# End-to-end check of a cluster with an unmodified client (kcat): three NATS
# nodes and three gateways (scripts/cluster.sh) on loopback; kcat produces
# 10,000 keyed messages with idempotence and acks=all, one gateway is
# SIGKILLed and another 10,000 go in while it is down, it comes back, and kcat
# reads all 20,000 back through the cluster.
#
# Usage: scripts/e2e-cluster.sh path/to/strata
set -euo pipefail

export STRATA_BIN=${1:?usage: e2e-cluster.sh path/to/strata}
here=$(dirname "$0")
name=e2e-cluster
topic=e2e-cluster
work=$(mktemp -d)
export GATEWAY_LEASE=2s NUM_PARTITIONS=6
cleanup() {
	"$here/cluster.sh" down "$work" || true
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "$name: FAIL: $*" >&2
	tail -n 20 "$work"/gateway-*.log >&2 || true
	exit 1
}

# Ports below Linux's ephemeral range (32768 up), so that no outgoing
# connection holds one; a port some service listens on makes `up` fail, and
# another base is tried.
brokers="" why=""
for _ in 1 2 3; do
	export BASE_PORT=$((20000 + RANDOM % 12000))
	if brokers=$("$here/cluster.sh" up "$work" 2>"$work/up.err"); then
		break
	fi
	why=$(tail -n 1 "$work/up.err")
	echo "$name: cluster did not start on base port $BASE_PORT, trying another: $why"
	"$here/cluster.sh" down "$work" || true
	rm -rf "${work:?}"/*
	brokers=""
done
[ -n "$brokers" ] || fail "cluster did not start: $why"
echo "$name: three NATS nodes and three gateways serving on $brokers"
# Each gateway sees the others join within its membership refresh (up to a
# second), so ask every one of them, not whichever kcat picks.
all_list_three() {
	local b
	for b in ${brokers//,/ }; do
		[ "$(kcat -L -b "$b" 2>/dev/null | grep -c '^  broker ')" = 3 ] || return 1
	done
}
for _ in $(seq 1 100); do
	all_list_three && break
	sleep 0.1
done
all_list_three || fail "metadata does not list three brokers: $(for b in ${brokers//,/ }; do kcat -L -b "$b" 2>&1 | head -5; done)"

produce() { # from to
	seq "$1" "$2" | awk '{ printf "key-%d:value-%06d\n", $1 % 100, $1 }' >"$work/batch.txt"
	cat "$work/batch.txt" >>"$work/produced.txt"
	kcat -P -b "$brokers" -t "$topic" -K: -X enable.idempotence=true -X acks=all <"$work/batch.txt" 2>"$work/produce.err" ||
		fail "kcat produce: $(cat "$work/produce.err")"
}
produce 1 10000
"$here/cluster.sh" kill "$work" 2
echo "$name: produced 10000 messages, killed gateway 2"
produce 10001 20000
"$here/cluster.sh" start "$work" 2 >/dev/null
echo "$name: produced 10000 more while it was down, started it again"

kcat -C -b "$brokers" -t "$topic" -o beginning -e -q -f '%k:%s\n' >"$work/consumed.txt" 2>"$work/consume.err" ||
	fail "kcat consume: $(cat "$work/consume.err")"
[ "$(wc -l <"$work/consumed.txt")" -eq 20000 ] || fail "consumed $(wc -l <"$work/consumed.txt") messages, want 20000"
sort "$work/produced.txt" | cmp -s - <(sort "$work/consumed.txt") || fail "consumed messages differ from produced ones"
echo "$name: consumed all 20000 through the cluster, content matches"
echo "$name: 1 passed, 0 failed"
