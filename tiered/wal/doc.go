// Package wal is the write-ahead tail on NATS JetStream: the replicated log a
// produced batch goes to before it is acknowledged, and stays in until the
// segment holding it is durable in object storage and indexed.
//
// It owns the WAL streams, the record format inside each message, fenced
// appends and their group commit across partitions, replay and purge. It
// leaves offsets, the batching of one partition's produce requests into a
// record, flushing and recovery policy to package tiered, which drives it.
//
// # Layout
//
// The WAL is Shards streams, "<Prefix>_WAL_<n>" with subjects
// "<prefix>.wal.<n>.>", file storage and the configured replicas. A partition
// has one subject, "<prefix>.wal.<n>.<topic id hex>.<partition>", in the shard
// its id hashes to, so one stream's Raft group is not the ceiling on
// throughput. The shard count is fixed while any shard holds data: Open
// refuses a different count rather than lose track of a tail.
//
// # Invariants
//
//   - Fencing: every Append names the partition subject's last sequence it
//     expects (JetStream's Nats-Expected-Last-Subject-Sequence). The
//     subject's messages therefore form one chain in which every writer knew
//     the whole chain before it: a deposed leader's append fails with
//     ErrFenced, and the offsets in the chain are contiguous.
//   - Group commit keeps that check per partition: appends of many
//     partitions waiting at once go to their shard as one JetStream atomic
//     batch (one round trip, one Raft proposal, one fsync), each message
//     still naming its subject's expected sequence. The server checks them
//     all before storing any, so a batch holding a deposed leader's append
//     stores nothing; the appends are then retried one by one and only the
//     deposed one fails. Batched messages are ordinary messages on their
//     partition subjects in the same Record format, so replay reads them
//     as it reads messages published before the group commit existed.
//   - Each message is one Record: the leader epoch, the offsets of the
//     RecordBatch v2 bytes it carries, and a CRC32C over all of it, checked
//     on every read (ErrCorrupt).
//   - Purge only removes messages below a sequence the caller has made
//     durable elsewhere, never the last one: the last message anchors the
//     chain, so a purge cannot reset the expected sequence under a writer.
//   - Reads go through the stream leader (direct gets are off), so a replay
//     sees every acknowledged append.
//
// # Writer chains
//
// A Writer (chain.go) appends the records of many partitions as one message
// per round on each of its chains, eight subjects per shard
// ("<prefix>.wal.<n>.w.<writer id>.<chain number>", each partition always on
// the same one), in the chain format (record.go: a version byte of 3, a CRC32C over
// the message, then one entry per partition with its epoch, offsets and
// batches). Only the writer appends records to its chain, so fencing a
// partition is done on the chain: each message names the last sequence of
// the chain's fence subject ("<prefix>.wal.<n>.f.<chain>"), and a new leader
// publishes a fence entry (the partition and its epoch) there, which refuses
// the writer's next message as a whole and makes the writer drop that
// partition's records from it; the new leader replays the writer's records
// of the partition below the fence. The writer empties its fence subject of
// the fences it read, so the server's check of a message, which loads the
// subject's last message, normally finds nothing to load. The same message
// count then serves 6 partitions or 1,000.
//
// Chains of the release before fence subjects (record messages of version
// 2) are fenced on the chain itself; Fence writes each fence there too, so
// those are taken over as before.
//
// Package tiered appends through a Writer with its Config.WALChains (strata
// serve --wal-chains), and takes over partitions written either way.
//
// Usage:
//
//	w, err := wal.Open(ctx, js, wal.Config{Shards: 4, Replicas: 3})
//	seq, err := w.Append(ctx, p, wal.Record{Epoch: 7, BaseOffset: 100, LastOffset: 109, Data: batches}, lastSeq)
//	err = w.Replay(ctx, p, 0, func(seq uint64, r wal.Record) error { ... })
//	err = w.Purge(ctx, p, seq) // drop messages before seq once they are in S3
package wal
