// Package natscheck checks that the NATS servers Strata uses keep its
// durability contract, before Strata trusts them with acknowledged writes.
//
// The contract comes from Jepsen's analysis of NATS 2.12.1: with JetStream's
// default sync interval a server acknowledges writes that are only in the OS
// page cache, and a power loss on enough servers loses them. Strata
// acknowledges produce requests and commits metadata on JetStream's word, so
// it requires of every server it uses:
//
//   - JetStream fsyncs every write before acknowledging it
//     ("sync_interval: always", reported by /varz as
//     jetstream.config.sync_always);
//   - every stream and KV bucket Strata keeps data in has the configured
//     replica count and file storage;
//   - every server that hosts one of those streams is one whose settings
//     were checked, so no replica lives on a server nobody looked at.
//
// The embedded server (internal/natsembed) keeps the contract by
// construction. For external servers the first point is visible only on the
// servers' HTTP monitoring endpoints, not over the client protocol, so
// Verify needs their URLs.
//
// It owns the check only. Deciding what to do about a failed check (refuse to
// start, or carry on after a loud warning under --allow-unsafe-nats) belongs
// to cmd/strata; creating the streams with the right replica count belongs to
// coordinator and tiered/wal.
//
// Invariants:
//   - Verify fails closed: a server or stream it cannot read counts as a
//     problem, because an unverified server is not a safe one.
//   - A failed check returns one error wrapping ErrUnsafe that lists every
//     problem found, so an operator fixes them all in one go.
//   - Verify only reads: it changes no server setting and no stream.
//
// Usage, once the streams and buckets exist:
//
//	err := natscheck.Verify(ctx, js, natscheck.Config{
//		MonitorURLs: []string{"http://nats-0:8222", "http://nats-1:8222", "http://nats-2:8222"},
//		Streams:     []string{"KV_strata_topics", "KV_strata_partitions", "strata_WAL_0"},
//		Replicas:    3,
//	})
//	if errors.Is(err, natscheck.ErrUnsafe) {
//		// refuse to start, unless --allow-unsafe-nats
//	}
package natscheck
