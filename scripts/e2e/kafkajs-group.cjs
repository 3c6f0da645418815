// End-to-end consumer group check with kafkajs, a client written from
// scratch in JavaScript (no librdkafka, no Java). Run by scripts/e2e-kafkajs.sh.
//
//   node kafkajs-group.cjs group  BROKER   three members share a six-partition
//                                          topic: disjoint assignments, every
//                                          record read exactly once while the
//                                          group is stable, and nothing lost when
//                                          a member leaves
//   node kafkajs-group.cjs resume BROKER   (after a gateway restart) a new member
//                                          reads only what was produced since
//                                          the last commit
'use strict';

const { Kafka, logLevel, Partitioners } = require('kafkajs');

const [phase, broker] = process.argv.slice(2);
const topic = 'e2e-kafkajs';
const groupId = 'e2e-kafkajs-group';
const name = 'e2e-kafkajs';

// kafkajs logs every retriable error (REBALANCE_IN_PROGRESS on each rebalance)
// at ERROR; failures that matter surface as exceptions.
const kafka = new Kafka({ clientId: name, brokers: [broker], logLevel: logLevel.NOTHING, retry: { retries: 20 } });

const pad = (i) => String(i).padStart(6, '0');

function fail(msg) {
	console.error(`${name}: FAIL: ${msg}`);
	process.exit(1);
}

// Every wait is bounded.
async function waitFor(what, seconds, cond) {
	const deadline = Date.now() + seconds * 1000;
	while (!cond()) {
		if (Date.now() > deadline) fail(`timed out after ${seconds}s waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 50));
	}
}

async function produce(from, n) {
	const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
	await producer.connect();
	for (let i = from; i < from + n; i += 100) {
		const messages = [];
		for (let j = i; j < Math.min(i + 100, from + n); j++) messages.push({ key: `k${j % 50}`, value: `v${pad(j)}` });
		await producer.send({ topic, acks: -1, messages });
	}
	await producer.disconnect();
}

// member starts a group member that counts what it reads into seen and
// remembers the assignment of its latest join.
async function member(seen) {
	// kafkajs heartbeats between fetches, so a short long-poll keeps rebalances quick.
	const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 500, maxWaitTimeInMs: 500 });
	const m = { consumer, assignment: null };
	consumer.on(consumer.events.GROUP_JOIN, (e) => {
		m.assignment = e.payload.memberAssignment[topic] || [];
	});
	await consumer.connect();
	await consumer.subscribe({ topic, fromBeginning: true });
	await consumer.run({
		eachMessage: async ({ message }) => {
			const v = message.value.toString();
			seen.set(v, (seen.get(v) || 0) + 1);
		},
	});
	return m;
}

// stableAssignment checks that the members' latest assignments are disjoint
// and cover every partition.
function stableAssignment(members, partitions) {
	const owner = new Map();
	for (const m of members) {
		if (m.assignment === null) return false;
		for (const p of m.assignment) {
			if (owner.has(p)) fail(`partition ${p} assigned to two members`);
			owner.set(p, m);
		}
	}
	return owner.size === partitions;
}

async function group() {
	const admin = kafka.admin();
	await admin.connect();
	await admin.createTopics({ topics: [{ topic, numPartitions: 6 }] });
	await admin.disconnect();

	const seen = new Map();
	const members = [];
	for (let i = 0; i < 3; i++) members.push(await member(seen));
	await waitFor('three members to share six partitions', 60, () => members.every((m) => m.assignment && m.assignment.length === 2) && stableAssignment(members, 6));
	console.log(`${name}: three kafkajs members joined; each holds two of six partitions, none twice`);

	await produce(0, 3000);
	await waitFor('3000 records', 60, () => seen.size >= 3000);
	for (const [v, n] of seen) if (n !== 1) fail(`${v} read ${n} times in a stable group`);
	console.log(`${name}: the stable group read each of 3000 records exactly once`);

	// One member leaves; the other two take over its partitions.
	const leaving = members.pop();
	await leaving.consumer.disconnect();
	await waitFor('two members to share six partitions', 60, () => members.every((m) => m.assignment && m.assignment.length === 3) && stableAssignment(members, 6));
	await produce(3000, 600);
	await waitFor('3600 records', 60, () => seen.size >= 3600);
	for (let i = 0; i < 3600; i++) if (!seen.has(`v${pad(i)}`)) fail(`v${pad(i)} never read`);
	console.log(`${name}: after a member left, the other two took its partitions and read all 3600 records`);
	for (const m of members) await m.consumer.disconnect(); // commits what was read
}

async function resume() {
	await produce(3600, 60);
	const seen = new Map();
	const m = await member(seen);
	await waitFor('the 60 new records', 60, () => seen.size >= 60);
	// Let it poll a little longer: anything committed would show up now.
	await new Promise((r) => setTimeout(r, 1000));
	for (const v of seen.keys()) if (v < `v${pad(3600)}`) fail(`${v} was committed and read again`);
	if (seen.size !== 60) fail(`read ${seen.size} records, want the 60 new ones`);
	await m.consumer.disconnect();
	console.log(`${name}: after a gateway restart a new member read only the 60 records produced since the last commit`);
}

const phases = { group, resume };
if (!phases[phase] || !broker) fail('usage: kafkajs-group.cjs group|resume BROKER');
phases[phase]().then(
	() => process.exit(0),
	(err) => fail(err.stack || String(err)),
);
