#!/usr/bin/env bash
# End-to-end log lifecycle check with unmodified clients: kafkajs's admin
# creates a cleanup.policy=compact topic; kcat (librdkafka) produces 20,000
# records over 500 keys, tombstones among them; once the cleaner has run and
# delete.retention.ms has passed, kcat reads from the beginning exactly the
# latest value of every live key at increasing offsets, with the high
# watermark unchanged; a keyless record is refused; a kafkajs consumer group
# reads the same; then retention.ms and DeleteRecords move a topic's log
# start (scripts/e2e/kafkajs-lifecycle.cjs).
#
# Usage: scripts/e2e-compact.sh path/to/strata
# kcat and kafkajs come from scripts/install-e2e-tools.sh.
set -euo pipefail

bin=${1:?usage: e2e-compact.sh path/to/strata}
n=20000
keys=500
topic=e2e-compact
work=$(mktemp -d)
name=e2e-compact
serve_args=(--compaction-interval 200ms --gc-grace 2s --flush-interval 50ms)
here=$(dirname "$0")
# shellcheck source=scripts/e2e-lib.sh
. "$here/e2e-lib.sh"

modules="$("$here/cache-dir.sh")/npm/kafkajs-2.2.4/node_modules"
[ -d "$modules/kafkajs" ] || fail "kafkajs is not installed; run scripts/install-e2e-tools.sh"
export NODE_PATH=$modules KAFKAJS_NO_PARTITIONER_WARNING=1

# check_high_watermark fails unless the topic's end offset (ListOffsets
# latest) is $n.
check_high_watermark() {
	local hw
	hw=$(kcat -Q -b "$broker" -t "$topic:0:-1" 2>"$work/kcat-query.err") || fail "kcat -Q: $(cat "$work/kcat-query.err")"
	[ "$hw" = "$topic [0] offset $n" ] || fail "$1: kcat -Q says '$hw', want offset $n"
}

# compacted reads the whole topic, writes how far it is from the expected
# final state to $work/state.txt, and returns 0 once it is there. It fails
# outright on what no cleaning explains: offsets not increasing, a record
# never produced, or a changed high watermark.
compacted() {
	check_high_watermark "while compacting"
	timeout 30 kcat -C -b "$broker" -t "$topic" -p 0 -o beginning -e -q -Z -f '%o %k:%s\n' >"$work/consumed.txt" 2>"$work/kcat-consume.err" ||
		fail "kcat consume (-e: to the high watermark, within 30s): $(cat "$work/kcat-consume.err")"
	awk -v produced="$work/produced.txt" '
		BEGIN { while ((getline l <produced) > 0) { sub(/:$/, ":NULL", l); ok[l] = 1 } }
		{
			sp = index($0, " "); o = substr($0, 1, sp - 1) + 0; kv = substr($0, sp + 1); k = substr(kv, 1, index(kv, ":") - 1)
			if (NR > 1 && o <= prev) { print "offset " o " after " prev; bad = 1; exit }
			if (!(kv in ok)) { print "record " kv " at offset " o " was never produced"; bad = 1; exit }
			prev = o
			if (kv ~ /:NULL$/) tomb++
			if (k in seen) dup++
			seen[k] = 1
		}
		END { if (!bad) printf "%d records, %d tombstones, %d repeated keys, last offset %d\n", NR, tomb, dup, prev; exit bad }
	' "$work/consumed.txt" >"$work/state.txt" || fail "kcat read: $(cat "$work/state.txt")"
	cut -d' ' -f2- "$work/consumed.txt" | sort | cmp -s - "$work/expected.sorted"
}

start
echo "$name: strata serving on $broker"

timeout 60 node "$here/e2e/kafkajs-lifecycle.cjs" create "$broker" "$topic" || fail "kafkajs create"

# Message i goes to key (37 i mod 500): each key is written 40 times, in a
# scrambled order; each key's every 10th write (shifted by the key) is a
# tombstone, so 50 keys end deleted and the others were deleted and written
# again on the way. The last 10 messages, all tombstones, come from a second
# producer: once they are gone the log ends in an empty batch, which readers
# must step over to reach the high watermark.
tail=10
seq 0 $((n - 1)) | awk -v keys=$keys -v tail_from=$((n - tail)) '{
	k = ($1 * 37) % keys
	if ((++c[k] + k) % 10 == 0 || $1 >= tail_from) printf "key-%d:\n", k; else printf "key-%d:key-%d=%d\n", k, k, $1
}' >"$work/produced.txt"
awk -F: '{ last[$1] = $2 } END { for (k in last) if (last[k] != "") print k ":" last[k] }' "$work/produced.txt" |
	sort >"$work/expected.sorted"
live=$(wc -l <"$work/expected.sorted")
tombstones=$(grep -c ':$' "$work/produced.txt")
for part in "head -n $((n - tail))" "tail -n $tail"; do
	$part "$work/produced.txt" | kcat -P -b "$broker" -t "$topic" -p 0 -K: -Z -X enable.idempotence=true -X acks=all 2>"$work/kcat-produce.err" ||
		fail "kcat produce: $(cat "$work/kcat-produce.err")"
done
produced_at=$SECONDS
echo "$name: kcat produced $n records over $keys keys ($tombstones tombstones, the last $tail from a second producer); $live keys end live"

compacted_ok=""
for _ in $(seq 1 60); do
	if compacted; then compacted_ok=1 && break; fi
	sleep 1
done
[ -n "$compacted_ok" ] || fail "not compacted after 60s: kcat reads $(cat "$work/state.txt"); want $live records, each key once"
echo "$name: after $((SECONDS - produced_at))s kcat reads exactly the $live live keys at their latest values ($(cat "$work/state.txt")), high watermark $n"

# A record without a key has no place in a compacted topic: INVALID_RECORD,
# with or without idempotence, and nothing appended.
for idempotence in false true; do
	if echo keyless | kcat -P -b "$broker" -t "$topic" -p 0 -X acks=all -X enable.idempotence=$idempotence 2>"$work/kcat-keyless.err"; then
		fail "kcat produced a keyless record to the compacted topic (enable.idempotence=$idempotence): $(cat "$work/kcat-keyless.err")"
	fi
	grep -q "Broker failed to validate record" "$work/kcat-keyless.err" ||
		fail "keyless record (enable.idempotence=$idempotence) failed, but not with INVALID_RECORD: $(cat "$work/kcat-keyless.err")"
done
check_high_watermark "after the refused keyless records"
echo "$name: keyless records are refused with INVALID_RECORD, high watermark still $n"

timeout 120 node "$here/e2e/kafkajs-lifecycle.cjs" compacted "$broker" "$topic" "$work/expected.sorted" "$n" || fail "kafkajs compacted read"
timeout 180 node "$here/e2e/kafkajs-lifecycle.cjs" retention "$broker" || fail "kafkajs retention"
stop
echo "$name: 1 passed, 0 failed"
