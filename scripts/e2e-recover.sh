#!/usr/bin/env bash
# End-to-end recovery check with an unmodified Kafka client (kcat, i.e.
# librdkafka): kcat produces 3 x 3,000 keyed messages, one file per partition
# of a 3-partition topic, to `strata serve` with a metadata snapshot every
# 300ms; once every message is in object storage (strata recover --dry-run
# counts them from the snapshot and the segment footers) and kcat has read
# the topic back, strata stops, the embedded NATS store is deleted (a total
# loss of the coordinator), `strata recover --from-bucket` rebuilds it, and
# strata starts again on the same data: kcat must list the topic by its name
# and read every message at the offset it had, then produce after it. Last,
# a recovery ignoring the snapshots brings the topic back under a generated
# name with every message at its offset.
#
# Usage: scripts/e2e-recover.sh path/to/strata
# kcat comes from scripts/install-e2e-tools.sh.
set -euo pipefail

bin=${1:?usage: e2e-recover.sh path/to/strata}
per_partition=3000
partitions=3
n=$((per_partition * partitions))
topic=e2e-recover
work=$(mktemp -d)
name=e2e-recover
serve_args=(--num-partitions "$partitions" --metadata-snapshot-interval 300ms --flush-interval 50ms)
here=$(dirname "$0")
# shellcheck source=scripts/e2e-lib.sh
. "$here/e2e-lib.sh"

# consume reads the whole topic as "partition offset key:value" lines, sorted
# by partition and offset, into $1.
consume() {
	timeout 60 kcat -C -b "$broker" -t "$topic" -o beginning -e -q -f '%p %o %k:%s\n' >"$1.raw" 2>"$work/kcat-consume.err" ||
		fail "kcat consume: $(cat "$work/kcat-consume.err")"
	sort -k1,1n -k2,2n "$1.raw" >"$1"
}

start
echo "$name: strata serving on $broker"

# Auto-created with $partitions partitions; each partition gets its own
# file, so that the offset of line i of partition p is i.
for p in $(seq 0 $((partitions - 1))); do
	seq 0 $((per_partition - 1)) | awk -v p="$p" '{ printf "key-%d-%d:value-%d-%06d\n", p, $1 % 50, p, $1 }' >"$work/produce-$p.txt"
	kcat -P -b "$broker" -t "$topic" -p "$p" -K: -X topic.request.required.acks=-1 -l "$work/produce-$p.txt" 2>"$work/kcat-produce.err" ||
		fail "kcat produce to partition $p: $(cat "$work/kcat-produce.err")"
done
for p in $(seq 0 $((partitions - 1))); do
	awk -v p="$p" '{ print p " " NR - 1 " " $0 }' "$work/produce-$p.txt"
done >"$work/expected.txt"

consume "$work/before.txt"
cmp -s "$work/before.txt" "$work/expected.txt" || fail "before recovery: kcat did not read every message at its offset"

# wait_flushed waits until object storage holds $1 messages (a clean stop
# leaves what is only in the write-ahead tail there, in NATS): the dry run
# reads only the bucket (the newest snapshot plus the footers), beside the
# running gateway.
wait_flushed() {
	for i in $(seq 1 100); do
		"$bin" recover --from-bucket --dry-run --data-dir "$work/data" >"$work/dry-run.txt" 2>"$work/dry-run.err" ||
			fail "recover --dry-run: $(cat "$work/dry-run.err")"
		grep -q "^metadata snapshot: " "$work/dry-run.txt" && grep -q "^recovered 1 topics, $partitions partitions, .* $1 records over $1 offsets" "$work/dry-run.txt" && return 0
		sleep 0.2
	done
	fail "object storage did not hold all $1 messages within 20s: $(cat "$work/dry-run.txt")"
}
wait_flushed "$n"
stop

# Total loss of the coordinator: the embedded NATS store goes.
rm -rf "$work/data/nats"
"$bin" recover --from-bucket --data-dir "$work/data" >"$work/recover.txt" 2>"$work/recover.err" ||
	fail "strata recover: $(cat "$work/recover.err") $(cat "$work/recover.txt")"
echo "$name: $(grep '^recovered' "$work/recover.txt")"
grep -q "^topic $topic " "$work/recover.txt" || fail "recover did not restore the topic by name: $(cat "$work/recover.txt")"
"$bin" recover --from-bucket --data-dir "$work/data" >/dev/null 2>"$work/recover-again.err" &&
	fail "a second recover into the rebuilt NATS did not refuse"
grep -q "already holds" "$work/recover-again.err" || fail "second recover: $(cat "$work/recover-again.err")"

start
kcat -L -b "$broker" -t "$topic" 2>&1 | grep -q "topic \"$topic\" with $partitions partitions" ||
	fail "after recovery: kcat -L does not show $topic with $partitions partitions"
consume "$work/after.txt"
cmp -s "$work/after.txt" "$work/expected.txt" || fail "after recovery: kcat did not read every message at its offset ($(wc -l <"$work/after.txt") of $n lines)"

# The log goes on after the recovered high watermark.
echo "key-0:after" | kcat -P -b "$broker" -t "$topic" -p 0 -K: -X topic.request.required.acks=-1 2>"$work/kcat-produce.err" ||
	fail "kcat produce after recovery: $(cat "$work/kcat-produce.err")"
last=$(timeout 30 kcat -C -b "$broker" -t "$topic" -p 0 -o -1 -c 1 -q -f '%o %s\n' 2>&1) || fail "kcat read after recovery: $last"
[ "$last" = "$per_partition after" ] || fail "after recovery: the new message is '$last', want offset $per_partition"
wait_flushed $((n + 1))
stop

# Without any snapshot: the topic comes back from the footers alone, under a
# generated name, every message still at its offset.
rm -rf "$work/data/nats"
"$bin" recover --from-bucket --no-snapshot --data-dir "$work/data" >"$work/recover-bare.txt" 2>"$work/recover-bare.err" ||
	fail "strata recover --no-snapshot: $(cat "$work/recover-bare.err")"
grep -q "NO METADATA SNAPSHOT" "$work/recover-bare.txt" || fail "recover --no-snapshot did not say the names are lost"
generated=$(sed -n 's/^topic \(recovered-[0-9a-f]*\) .*/\1/p' "$work/recover-bare.txt")
[ -n "$generated" ] || fail "recover --no-snapshot named no topic: $(cat "$work/recover-bare.txt")"
start
topic=$generated
consume "$work/bare.txt"
{ cat "$work/expected.txt"; echo "0 $per_partition key-0:after"; } | sort -k1,1n -k2,2n >"$work/expected-bare.txt"
cmp -s "$work/bare.txt" "$work/expected-bare.txt" || fail "after a recovery without snapshot: kcat did not read every message of $topic at its offset"
stop
echo "$name: ok: $n messages recovered at their offsets, with and without a snapshot"
