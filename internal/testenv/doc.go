// Package testenv is the test harness: real components started for a test and
// stopped by t.Cleanup.
//
//   - NATS: an in-process nats-server with JetStream (internal/natsembed) on a
//     random loopback port with its store in t.TempDir() and a monitoring
//     port; StartNATSCluster starts a three-node cluster whose nodes can be
//     killed and restarted.
//   - MinIO: a MinIO server process on a loopback port, which a test can
//     pause (SIGSTOP), kill and restart on the same address and data.
//   - LocalStack: LocalStack's S3 service (localstack-core, run on the host
//     without Docker) on a loopback port, a second S3 implementation for
//     the object store's acceptance suite. Both S3 servers are installed
//     into the cache directory by scripts/install-*.sh, share S3Endpoint
//     and per-test buckets (NewBucket), and skip tests when not installed,
//     except under CI.
//   - Kafka clients: franz-go kgo and kadm clients pointed at a gateway.
//   - CheckFor: bounded polling, the only way tests wait for something.
//
// Packages use it from their tests only; nothing outside _test.go files may
// import it. It is the one package besides cmd/strata that may read the
// environment (for example CI=true, under which a component that cannot be
// started fails the test instead of skipping it).
//
// Usage:
//
//	func TestSomething(t *testing.T) {
//		ns := testenv.NATS(t)
//		js := ns.JetStream(t)
//		...
//	}
package testenv
