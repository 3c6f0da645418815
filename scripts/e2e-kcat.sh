#!/usr/bin/env bash
# End-to-end check with an unmodified Kafka client (kcat, i.e. librdkafka):
# start `strata serve` on loopback, list metadata, produce 10,000 keyed messages,
# consume them all back, check content and per-key order, check that a
# topic with confluent.value.schema.validation takes only values carrying a
# schema id registered (with curl) in the embedded schema registry, check
# that kcat with isolation.level=read_committed reads only the committed one
# of a committed and an aborted transaction (and read_uncommitted both), stop
# with SIGTERM, restart on the same data dir and check that everything is
# still there.
#
# Usage: scripts/e2e-kcat.sh path/to/strata
# kcat, curl and kafkajs (which creates the validated topic and writes the
# transactions: kcat can do neither) come from scripts/install-e2e-tools.sh.
set -euo pipefail

bin=${1:?usage: e2e-kcat.sh path/to/strata}
n=10000
topic=e2e-kcat
work=$(mktemp -d)
name=e2e-kcat
serve_args=(--num-partitions 6)
here=$(dirname "$0")
# shellcheck source=scripts/e2e-lib.sh
. "$here/e2e-lib.sh"

kafkajs_modules="$("$here/cache-dir.sh")/npm/kafkajs-2.2.4/node_modules"
[ -d "$kafkajs_modules/kafkajs" ] || fail "kafkajs is not installed; run scripts/install-e2e-tools.sh"

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

# registry_addr sets $registry from the log line of the schema registry,
# once it answers /healthz (its cache has loaded).
registry_addr() {
	registry=""
	for _ in $(seq 1 100); do
		registry=$(sed -n 's/.*msg="serving schema registry" listen=\([0-9.:]*\).*/\1/p' "$work/strata.log" | head -n1)
		[ -n "$registry" ] && curl -sf "http://$registry/healthz" >/dev/null && return 0
		sleep 0.1
	done
	fail "the schema registry did not serve within 10s (address '$registry')"
}

# wire writes to $1 a value in Confluent's wire format: magic byte 0, schema
# id $2 as 4 bytes big-endian, then the Avro encoding of {"n": "hello"}
# (zigzag length 10, then the bytes).
wire() {
	local id=$2
	printf "\\x00\\x$(printf %02x $((id >> 24 & 255)))\\x$(printf %02x $((id >> 16 & 255)))\\x$(printf %02x $((id >> 8 & 255)))\\x$(printf %02x $((id & 255)))\\x0ahello" >"$1"
}

# produce_refused fails unless kcat's produce of file $1 to $valid_topic
# fails with INVALID_RECORD ("Broker failed to validate record").
produce_refused() {
	if kcat -P -b "$broker" -t "$valid_topic" -X acks=all "$1" 2>"$work/kcat-refused.err"; then
		fail "kcat produced $2 to $valid_topic: $(cat "$work/kcat-refused.err")"
	fi
	grep -qi "failed to validate record" "$work/kcat-refused.err" ||
		fail "$2 failed, but not with INVALID_RECORD: $(cat "$work/kcat-refused.err")"
}

# check_valid_topic fails unless $valid_topic holds exactly one message,
# the bytes of $work/valid.bin, with its high watermark at 1.
check_valid_topic() {
	local hw
	hw=$(kcat -Q -b "$broker" -t "$valid_topic:0:-1" 2>"$work/kcat-query.err") || fail "kcat -Q: $(cat "$work/kcat-query.err")"
	[ "$hw" = "$valid_topic [0] offset 1" ] || fail "$1: kcat -Q says '$hw', want offset 1"
	kcat -C -b "$broker" -t "$valid_topic" -o beginning -e -q -f '%o\n' >"$work/valid-offsets.txt" 2>"$work/kcat-consume.err" ||
		fail "kcat consume $valid_topic: $(cat "$work/kcat-consume.err")"
	[ "$(cat "$work/valid-offsets.txt")" = 0 ] || fail "$1: $valid_topic holds offsets $(tr '\n' ' ' <"$work/valid-offsets.txt"), want only 0"
	kcat -C -b "$broker" -t "$valid_topic" -o beginning -e -q -f '%s' >"$work/valid-consumed.bin" 2>"$work/kcat-consume.err" ||
		fail "kcat consume $valid_topic: $(cat "$work/kcat-consume.err")"
	cmp -s "$work/valid-consumed.bin" "$work/valid.bin" || fail "$1: the message of $valid_topic differs from the one produced"
}

# check_txn_topic fails unless kcat reads from $txn_topic, with
# isolation.level $2, exactly the values of file $3, in order.
check_txn_topic() {
	kcat -C -b "$broker" -t "$txn_topic" -o beginning -e -q -f '%s\n' -X isolation.level="$2" >"$work/txn-$2.txt" 2>"$work/kcat-txn.err" ||
		fail "$1: kcat $2 consume $txn_topic: $(cat "$work/kcat-txn.err")"
	cmp -s "$work/txn-$2.txt" "$3" ||
		fail "$1: kcat $2 read '$(tr '\n' ' ' <"$work/txn-$2.txt")' from $txn_topic, want '$(tr '\n' ' ' <"$3")'"
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

# Broker-side schema validation: register an Avro schema under
# "<topic>-value" with curl, create the topic with
# confluent.value.schema.validation=true, and produce with kcat (a file
# argument is sent whole, as one message).
valid_topic=e2e-valid
registry_addr
curl -sf -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
	--data '{"schema": "{\"type\":\"record\",\"name\":\"Valid\",\"fields\":[{\"name\":\"n\",\"type\":\"string\"}]}"}' \
	"http://$registry/subjects/$valid_topic-value/versions" >"$work/register.json" || fail "register a schema under $valid_topic-value"
id=$(sed -n 's/^{"id":\([0-9][0-9]*\)}$/\1/p' "$work/register.json")
[ -n "$id" ] || fail "registering under $valid_topic-value answered $(cat "$work/register.json"), want {\"id\":N}"
NODE_PATH=$kafkajs_modules timeout 60 node -e '
const { Kafka, logLevel } = require("kafkajs");
const [broker, topic] = process.argv.slice(1);
const kafka = new Kafka({ clientId: "e2e-kcat", brokers: [broker], logLevel: logLevel.NOTHING });
const configEntries = [{ name: "confluent.value.schema.validation", value: "true" }];
(async () => {
	const admin = kafka.admin();
	await admin.connect();
	if (!(await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, configEntries }] }))) throw new Error(`${topic} exists`);
	const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name: topic }] });
	const got = resources[0].configEntries.find((e) => e.configName === configEntries[0].name);
	if (!got || got.configValue !== "true") throw new Error(`${configEntries[0].name} reads back as ${got && got.configValue}`);
	await admin.disconnect();
})().catch((e) => { console.error(`e2e-kcat: kafkajs create ${topic}: ${e.message}`); process.exit(1); });
' "$broker" "$valid_topic" || fail "kafkajs create $valid_topic with confluent.value.schema.validation=true"

wire "$work/valid.bin" "$id"
kcat -P -b "$broker" -t "$valid_topic" -X acks=all "$work/valid.bin" 2>"$work/kcat-produce.err" ||
	fail "kcat produce of a value with registered id $id: $(cat "$work/kcat-produce.err")"
printf 'plain text, no magic byte' >"$work/no-magic.bin"
produce_refused "$work/no-magic.bin" "a value without the magic byte"
wire "$work/unknown-id.bin" $((id + 1000))
produce_refused "$work/unknown-id.bin" "a value with unregistered id $((id + 1000))"
check_valid_topic "after the refused values"
echo "e2e-kcat: $valid_topic (schema validation) took the value with registered id $id and refused one without the magic byte and one with an unknown id (INVALID_RECORD); it holds exactly 1 message"

# Transactions: kafkajs's transactional producer (kcat cannot write
# transactions) commits one transaction and aborts the next on a
# one-partition topic; kcat with read_committed reads only the committed
# records (librdkafka drops the aborted ones by the fetch response's
# aborted transactions), with read_uncommitted all of them.
txn_topic=e2e-txn
NODE_PATH=$kafkajs_modules timeout 60 node -e '
const { Kafka, logLevel } = require("kafkajs");
const [broker, topic] = process.argv.slice(1);
const kafka = new Kafka({ clientId: "e2e-kcat", brokers: [broker], logLevel: logLevel.NOTHING });
const messages = (prefix, n) => Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: `${prefix}-${i}` }));
(async () => {
	const admin = kafka.admin();
	await admin.connect();
	if (!(await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] }))) throw new Error(`${topic} exists`);
	await admin.disconnect();
	const producer = kafka.producer({ transactionalId: "e2e-kcat-txn", idempotent: true, maxInFlightRequests: 1 });
	await producer.connect();
	for (const [prefix, commit] of [["committed", true], ["aborted", false]]) {
		const txn = await producer.transaction();
		await txn.send({ topic, acks: -1, messages: messages(prefix, 3) });
		await (commit ? txn.commit() : txn.abort());
	}
	await producer.disconnect();
})().catch((e) => { console.error(`e2e-kcat: kafkajs transactions on ${topic}: ${e.message}`); process.exit(1); });
' "$broker" "$txn_topic" || fail "kafkajs commit and abort a transaction on $txn_topic"
printf 'committed-%d\n' 0 1 2 >"$work/txn-committed.txt"
printf '%s-%d\n' committed 0 committed 1 committed 2 aborted 0 aborted 1 aborted 2 >"$work/txn-all.txt"
check_txn_topic "after the transactions" read_committed "$work/txn-committed.txt"
check_txn_topic "after the transactions" read_uncommitted "$work/txn-all.txt"
echo "e2e-kcat: kcat read_committed reads only the 3 records of kafkajs's committed transaction from $txn_topic, read_uncommitted also the 3 of its aborted one"

stop
start
kcat -b "$broker" -G e2e-group -X auto.offset.reset=earliest -e -q -f '%k:%s\n' "$topic" \
	>"$work/group-again.txt" 2>"$work/kcat-group.err" || fail "kcat -G again: $(cat "$work/kcat-group.err")"
[ ! -s "$work/group-again.txt" ] || fail "the group re-read $(wc -l <"$work/group-again.txt") committed messages after a restart"
echo "e2e-kcat: after restart the group resumes from its committed offsets (nothing re-read)"
consume "$work/consumed-after-restart.txt"
check "$work/consumed-after-restart.txt"
echo "e2e-kcat: after restart all $n messages are still there"
produce_refused "$work/no-magic.bin" "a value without the magic byte after restart"
check_valid_topic "after restart"
echo "e2e-kcat: after restart $valid_topic still validates and holds its 1 message"
check_txn_topic "after restart" read_committed "$work/txn-committed.txt"
check_txn_topic "after restart" read_uncommitted "$work/txn-all.txt"
echo "e2e-kcat: after restart kcat read_committed still reads only the committed transaction of $txn_topic"
stop
echo "e2e-kcat: 1 passed, 0 failed"
