#!/usr/bin/env bash
# End-to-end check with an unmodified Kafka client (kcat, i.e. librdkafka):
# start `strata serve` on loopback, list metadata, produce 10,000 keyed messages,
# consume them all back, check content and per-key order, stop with SIGTERM,
# restart on the same data dir and check that everything is still there.
#
# Usage: scripts/e2e-kcat.sh path/to/strata
set -euo pipefail

bin=${1:?usage: e2e-kcat.sh path/to/strata}
n=10000
topic=e2e-kcat
work=$(mktemp -d)
name=e2e-kcat
serve_args=(--num-partitions 6)
# shellcheck source=scripts/e2e-lib.sh
. "$(dirname "$0")/e2e-lib.sh"

# consume reads the whole topic as key:value lines into $1.
consume() {
	kcat -C -b "$broker" -t "$topic" -o beginning -e -q -f '%k:%s\n' >"$1" 2>"$work/kcat-consume.err" ||
		fail "kcat consume: $(cat "$work/kcat-consume.err")"
}

check() {
	local got=$1
	local count
	count=$(wc -l <"$got")
	[ "$count" -eq "$n" ] || fail "consumed $count messages, want $n"
	sort "$got" | cmp -s - "$work/expected.sorted" || fail "consumed messages differ from produced ones"
	# Per key, values must come back in the order produced (each key maps to
	# one partition, and each partition is read in order).
	awk -F: '{ split($2, v, "-"); if ((k = $1) in last && v[2] + 0 <= last[k]) { print "key " k " out of order"; bad = 1 } last[k] = v[2] + 0 } END { exit bad }' "$got" ||
		fail "per-key order violated"
}

start
echo "e2e-kcat: strata serving on $broker"

kcat -L -b "$broker" >"$work/metadata.txt" 2>&1 || fail "kcat -L: $(cat "$work/metadata.txt")"
grep -q "1 brokers:" "$work/metadata.txt" || fail "kcat -L shows no broker: $(cat "$work/metadata.txt")"

seq 1 "$n" | awk '{ printf "key-%d:value-%d\n", $1 % 97, $1 }' >"$work/produced.txt"
sort "$work/produced.txt" >"$work/expected.sorted"
kcat -P -b "$broker" -t "$topic" -K: -X enable.idempotence=true -X acks=all <"$work/produced.txt" 2>"$work/kcat-produce.err" ||
	fail "kcat produce: $(cat "$work/kcat-produce.err")"
echo "e2e-kcat: produced $n messages"

kcat -L -b "$broker" -t "$topic" >"$work/topic.txt" 2>&1
grep -q "with 6 partitions" "$work/topic.txt" || fail "topic not auto-created with 6 partitions: $(cat "$work/topic.txt")"

consume "$work/consumed.txt"
check "$work/consumed.txt"
echo "e2e-kcat: consumed $n messages, content and per-key order match"

[ "$(curl -sf "http://$http/healthz")" = "ok" ] || fail "/healthz is not ok while serving"
curl -sf "http://$http/metrics" >"$work/metrics.txt" || fail "/metrics did not answer"
grep -q '^strata_gateway_requests_total{api="Produce"} [1-9]' "$work/metrics.txt" || fail "/metrics has no produce requests counted"
# A partition with under 64 KiB queued waits up to 12 flush intervals (3 s)
# for its segment: these records are acknowledged from the WAL before that.
for _ in $(seq 1 100); do
	grep -q '^strata_tiered_segment_put_bytes_total [1-9]' "$work/metrics.txt" && break
	sleep 0.1
	curl -sf "http://$http/metrics" >"$work/metrics.txt" || fail "/metrics did not answer"
done
grep -q '^strata_tiered_segment_put_bytes_total [1-9]' "$work/metrics.txt" || fail "/metrics has no segment bytes counted within 10s"
echo "e2e-kcat: /healthz ok, /metrics counts the produce requests and segment bytes"

# A kcat consumer group (-G) reads everything from the earliest offset and
# commits; the same group run again finds nothing new.
kcat -b "$broker" -G e2e-group -X auto.offset.reset=earliest -o beginning -e -q -f '%k:%s\n' "$topic" \
	>"$work/group.txt" 2>"$work/kcat-group.err" || fail "kcat -G: $(cat "$work/kcat-group.err")"
check "$work/group.txt"
echo "e2e-kcat: kcat -G consumer group read all $n messages"

# A regex subscription (librdkafka treats a leading ^ as a pattern) finds a
# topic that matches, as the seed consumer's ^regex.*[Tt]opic does.
seq 1 50 | awk '{ printf "r-%d:regex-%d\n", $1, $1 }' |
	kcat -P -b "$broker" -t e2e-regex-Topic -K: 2>"$work/kcat-produce.err" || fail "kcat produce: $(cat "$work/kcat-produce.err")"
kcat -b "$broker" -G e2e-regex-group -X auto.offset.reset=earliest -X topic.metadata.refresh.interval.ms=1000 -e -q -f '%t %s\n' '^e2e-.*[Tt]opic' \
	>"$work/regex.txt" 2>"$work/kcat-regex.err" || fail "kcat -G regex: $(cat "$work/kcat-regex.err")"
[ "$(grep -c '^e2e-regex-Topic regex-' "$work/regex.txt")" -eq 50 ] || fail "regex group read $(wc -l <"$work/regex.txt") messages, want the 50 of e2e-regex-Topic"
echo "e2e-kcat: a regex group subscription (^e2e-.*[Tt]opic) read all 50 messages of the matching topic"

stop
start
kcat -b "$broker" -G e2e-group -X auto.offset.reset=earliest -e -q -f '%k:%s\n' "$topic" \
	>"$work/group-again.txt" 2>"$work/kcat-group.err" || fail "kcat -G again: $(cat "$work/kcat-group.err")"
[ ! -s "$work/group-again.txt" ] || fail "the group re-read $(wc -l <"$work/group-again.txt") committed messages after a restart"
echo "e2e-kcat: after restart the group resumes from its committed offsets (nothing re-read)"
consume "$work/consumed-after-restart.txt"
check "$work/consumed-after-restart.txt"
echo "e2e-kcat: after restart all $n messages are still there"
stop
echo "e2e-kcat: 1 passed, 0 failed"
