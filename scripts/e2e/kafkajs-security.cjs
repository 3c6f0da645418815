// Security checks with kafkajs, a client written from scratch in JavaScript
// (no librdkafka, no Java). Run by scripts/e2e-security.sh, which starts a
// gateway with SASL_SSL, SASL_PLAINTEXT and mutual-TLS (SSL) listeners and
// sets CERTS to the directory of scripts/gen-certs.sh's files (ca.crt,
// alice.crt, alice.key) plus alice-expired.crt and alice-expired.key.
//
//   node kafkajs-security.cjs setup BROKER
//       as admin (SCRAM-SHA-512 over SASL_SSL): create topics orders (3
//       partitions) and secret (1), allow User:alice READ and WRITE on orders
//       and READ on groups prefixed alice-, and read the ACLs back
//   node kafkajs-security.cjs roundtrip MODE BROKER N PREFIX
//       as alice over MODE (scram: SASL_SSL with SCRAM-SHA-512, plain:
//       SASL_PLAINTEXT with PLAIN, mtls: SSL with the certificate CN=alice),
//       produce N keyed messages to orders, then read them back in the group
//       alice-PREFIX: every one exactly once, with its key
//   node kafkajs-security.cjs refused CASE BROKER
//       a client that must be refused tries to produce one message (or, for
//       group-outside-prefix, to join a group); the attempt must fail within
//       a bound, with the error CASE expects
//   node kafkajs-security.cjs offsets BROKER
//       as admin, print the summed end offsets: "orders=N secret=M"
'use strict';

const fs = require('fs');
const path = require('path');
const {
	Kafka, logLevel, Partitioners,
	AclResourceTypes, AclOperationTypes, AclPermissionTypes, ResourcePatternTypes,
} = require('kafkajs');

const name = 'e2e-security/kafkajs';
const certs = process.env.CERTS;
const file = (f) => fs.readFileSync(path.join(certs, f));

function fail(msg) {
	console.error(`${name}: FAIL: ${msg}`);
	process.exit(1);
}

// Every wait is bounded: connection, login and request timeouts are short,
// and each phase runs under a deadline.
function client(broker, opts) {
	return new Kafka({
		clientId: name, brokers: [broker], logLevel: logLevel.NOTHING,
		connectionTimeout: 3000, authenticationTimeout: 3000, requestTimeout: 10000,
		retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1000 },
		...opts,
	});
}

function deadline(what, seconds, promise) {
	let timer;
	const expired = new Promise((_, reject) => {
		timer = setTimeout(() => reject(new Error(`${what}: no outcome within ${seconds}s`)), seconds * 1000);
	});
	return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

const scram = (username, password) => ({ ssl: { ca: [file('ca.crt')] }, sasl: { mechanism: 'scram-sha-512', username, password } });
const plain = (username, password) => ({ sasl: { mechanism: 'plain', username, password } });
const mtls = (cert) => ({ ssl: { ca: [file('ca.crt')], cert: file(`${cert}.crt`), key: file(`${cert}.key`) } });

const modes = {
	scram: () => scram('alice', 'alice-secret'),
	plain: () => plain('alice', 'alice-secret'),
	mtls: () => mtls('alice'),
};

async function setup(broker) {
	const admin = client(broker, scram('admin', 'admin-secret')).admin();
	await admin.connect();
	await admin.createTopics({ waitForLeaders: true, topics: [{ topic: 'orders', numPartitions: 3 }, { topic: 'secret', numPartitions: 1 }] });
	const allow = (resourceType, resourceName, resourcePatternType, operation) => ({
		resourceType, resourceName, resourcePatternType, operation,
		principal: 'User:alice', host: '*', permissionType: AclPermissionTypes.ALLOW,
	});
	await admin.createAcls({
		acl: [
			allow(AclResourceTypes.TOPIC, 'orders', ResourcePatternTypes.LITERAL, AclOperationTypes.READ),
			allow(AclResourceTypes.TOPIC, 'orders', ResourcePatternTypes.LITERAL, AclOperationTypes.WRITE),
			allow(AclResourceTypes.GROUP, 'alice-', ResourcePatternTypes.PREFIXED, AclOperationTypes.READ),
		],
	});
	const { resources } = await admin.describeAcls({
		resourceType: AclResourceTypes.ANY, resourcePatternType: ResourcePatternTypes.ANY, principal: 'User:alice',
		operation: AclOperationTypes.ANY, permissionType: AclPermissionTypes.ANY,
	});
	const got = resources.flatMap((r) => r.acls.map((a) => `${r.resourceType}:${r.resourceName}:${r.resourcePatternType}:${a.operation}`)).sort();
	const want = [
		`${AclResourceTypes.GROUP}:alice-:${ResourcePatternTypes.PREFIXED}:${AclOperationTypes.READ}`,
		`${AclResourceTypes.TOPIC}:orders:${ResourcePatternTypes.LITERAL}:${AclOperationTypes.READ}`,
		`${AclResourceTypes.TOPIC}:orders:${ResourcePatternTypes.LITERAL}:${AclOperationTypes.WRITE}`,
	].sort();
	if (got.join() !== want.join()) fail(`alice's ACLs read back as ${got}, want ${want}`);
	await admin.disconnect();
	console.log(`${name}: admin (SCRAM-SHA-512 over SASL_SSL) created orders and secret, and 3 ACLs for User:alice, read back by DescribeAcls`);
}

async function roundtrip(mode, broker, n, prefix) {
	const kafka = client(broker, modes[mode]());
	const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
	await producer.connect();
	const want = new Map();
	const messages = [];
	for (let i = 0; i < n; i++) {
		const key = `${prefix}-k${i % 17}`;
		const value = `${prefix}-v${String(i).padStart(6, '0')}`;
		want.set(value, key);
		messages.push({ key, value });
	}
	await producer.send({ topic: 'orders', acks: -1, messages });
	await producer.disconnect();

	const consumer = kafka.consumer({ groupId: `alice-${prefix}`, maxWaitTimeInMs: 200 });
	const seen = new Map();
	let done;
	const all = new Promise((resolve) => { done = resolve; });
	await consumer.connect();
	await consumer.subscribe({ topic: 'orders', fromBeginning: true });
	await consumer.run({
		eachMessage: async ({ message }) => {
			const value = message.value.toString();
			if (!value.startsWith(`${prefix}-`)) return; // another run's
			if (seen.has(value)) fail(`${value} read twice`);
			seen.set(value, message.key.toString());
			if (seen.size === n) done();
		},
	});
	await deadline(`reading ${n} messages back`, 30, all);
	await consumer.disconnect();
	for (const [value, key] of want) {
		if (seen.get(value) !== key) fail(`${value}: read with key ${seen.get(value)}, want ${key}`);
	}
	console.log(`${name}: ${mode}: alice produced ${n} keyed messages to orders and read all ${n} back in group alice-${prefix}, each once with its key`);
}

// produceOne is the attempt of most clients that must be refused.
const produceOne = (topic) => async (kafka, which) => {
	const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
	try {
		await producer.connect();
		await producer.send({ topic, acks: -1, messages: [{ key: 'refused', value: which }] });
	} finally {
		await producer.disconnect().catch(() => {});
	}
};

// joinGroup joins a group and resolves once it reads a message, or rejects
// with the error that stopped the consumer.
const joinGroup = (groupId) => async (kafka) => {
	const consumer = kafka.consumer({ groupId, retry: { retries: 0 } });
	try {
		await new Promise((resolve, reject) => {
			consumer.on(consumer.events.CRASH, (e) => reject(e.payload.error));
			consumer.connect()
				.then(() => consumer.subscribe({ topic: 'orders', fromBeginning: true }))
				.then(() => consumer.run({ eachMessage: async () => resolve() }))
				.catch(reject);
		});
	} finally {
		await consumer.disconnect().catch(() => {});
	}
};

const connectionError = (e) => e.name === 'KafkaJSConnectionError' || e.name === 'KafkaJSConnectionClosedError';

// The clients that must be refused: how each connects, what it tries, and
// the error it must get.
const refusals = {
	'wrong-password': {
		opts: () => scram('alice', 'wrong'), attempt: produceOne('orders'),
		want: (e) => e.name === 'KafkaJSSASLAuthenticationError',
	},
	'unknown-user': {
		opts: () => scram('mallory', 'alice-secret'), attempt: produceOne('orders'),
		want: (e) => e.name === 'KafkaJSSASLAuthenticationError',
	},
	'wrong-password-plain': {
		opts: () => plain('alice', 'wrong'), attempt: produceOne('orders'),
		want: (e) => e.name === 'KafkaJSSASLAuthenticationError',
	},
	// TLS 1.3: the client finishes its side of the handshake, and the
	// server's alert arrives on the first read.
	'expired-cert': {
		opts: () => mtls('alice-expired'), attempt: produceOne('orders'),
		want: (e) => connectionError(e) && /alert certificate expired/i.test(e.message),
	},
	// The gateway expects a TLS ClientHello and closes the connection.
	'plaintext-to-tls': {
		opts: () => plain('alice', 'alice-secret'), attempt: produceOne('orders'),
		want: connectionError,
	},
	// The ClientHello read as a Kafka frame claims more than a client that
	// has not logged in may send, and the gateway closes the connection.
	'tls-to-plaintext': {
		opts: () => ({ ssl: { ca: [file('ca.crt')] }, sasl: { mechanism: 'plain', username: 'alice', password: 'alice-secret' } }),
		attempt: produceOne('orders'),
		want: connectionError,
	},
	// Refused at the topic's metadata, before any produce is sent.
	'no-acl': {
		opts: () => plain('alice', 'alice-secret'), attempt: produceOne('secret'),
		want: (e) => e.type === 'TOPIC_AUTHORIZATION_FAILED',
	},
	// kafkajs reports FindCoordinator's GROUP_AUTHORIZATION_FAILED as
	// "Failed to find group coordinator", and logs the code at debug.
	'group-outside-prefix': {
		opts: () => plain('alice', 'alice-secret'), attempt: joinGroup('bob-group'),
		want: (e, logged) => e.type === 'GROUP_AUTHORIZATION_FAILED' ||
			(e.name === 'KafkaJSGroupCoordinatorNotFound' && logged.has('GROUP_AUTHORIZATION_FAILED')),
	},
};

async function refused(which, broker) {
	const r = refusals[which];
	// kafkajs logs, at debug, the protocol errors it then wraps or replaces.
	const logged = new Set();
	const logCreator = () => ({ log }) => {
		if (log.error && log.error.type) logged.add(log.error.type);
	};
	const kafka = client(broker, { ...r.opts(), retry: { retries: 0 }, logLevel: logLevel.DEBUG, logCreator });
	let err;
	const start = Date.now();
	try {
		await deadline(which, 15, r.attempt(kafka, which));
	} catch (e) {
		err = e;
	}
	if (!err) fail(`${which}: the attempt succeeded`);
	// kafkajs wraps the error of a retried operation: look along the chain.
	const chain = [];
	for (let e = err; e && chain.length < 5; e = e.cause) chain.push(e);
	const last = chain[chain.length - 1];
	const what = `${chain.map((e) => `${e.name}${e.type ? ` ${e.type}` : ''}`).join(' <- ')}: ${last.message.replace(/\s+/g, ' ').trim()}` +
		(logged.size ? ` (protocol errors seen: ${[...logged].join(', ')})` : '');
	if (!chain.some((e) => r.want(e, logged))) fail(`${which}: refused with ${what}, not the error expected`);
	console.log(`${name}: ${which}: refused after ${Date.now() - start} ms with ${what}`);
}

async function offsets(broker) {
	const admin = client(broker, scram('admin', 'admin-secret')).admin();
	await admin.connect();
	const sum = async (topic) => (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);
	console.log(`orders=${await sum('orders')} secret=${await sum('secret')}`);
	await admin.disconnect();
}

const [phase, ...args] = process.argv.slice(2);
const phases = {
	setup: ([broker]) => setup(broker),
	roundtrip: ([mode, broker, n, prefix]) => (modes[mode] ? roundtrip(mode, broker, Number(n), prefix) : fail(`unknown mode ${mode}`)),
	refused: ([which, broker]) => (refusals[which] ? refused(which, broker) : fail(`unknown case ${which}`)),
	offsets: ([broker]) => offsets(broker),
};
if (!certs || !phases[phase] || !args[0]) fail('usage: CERTS=DIR kafkajs-security.cjs setup|roundtrip|refused|offsets ...');
deadline(phase, 50, phases[phase](args)).then(
	() => process.exit(0),
	(err) => fail(err.stack || String(err)),
);
