// Package tiered is a partition's log across the tiers: it assigns offsets to
// produced batches, checks idempotent-producer sequences, packs what every
// partition of this gateway produced into one multi-partition segment object per
// flush, commits each partition's new index state to the coordinator, and serves
// reads from a block cache backed by ranged GETs.
//
// It leaves the wire protocol to gateway, metadata storage to the coordinator
// (through the Index interface declared here), and the byte formats to
// tiered/batch and tiered/segment.
//
// # Design
//
// Each partition is on one of two tiers (Durability, from the topic's
// strata.durability): wal, the default, acknowledges a batch once a JetStream
// quorum holds it in the write-ahead tail (tail.go, package tiered/wal); s3
// acknowledges it once its segment is in object storage and indexed.
//
// Invariants, per partition:
//   - offsets are assigned in append order, contiguously, and never reused: an
//     offset becomes visible only once it is durable (in the WAL, or in the
//     index), and a failed WAL append or commit discards its offsets together
//     with every later pending batch of the partition, which then reloads its
//     state from the index and the WAL;
//   - the high watermark only moves up: it is the end of what the index and
//     the WAL tail together hold;
//   - an append is acknowledged only once durable (acks=1 and acks=all
//     alike);
//   - the WAL tail of a partition above its committed high watermark is
//     contiguous with it; loading the partition replays it, and a flush
//     purges it only below what the index commit made durable.
//
// Mechanism: Append validates a batch and assigns its offsets. On the wal tier
// the partition's sender (a callback on its writer chain, or a goroutine on
// partition subjects) appends it to the WAL, grouped with every batch queued
// meanwhile, and acknowledges it; on the s3 tier it waits for the flush. One goroutine (Run) flushes: every FlushInterval, or sooner once
// FlushBytes have been queued since the last flush, it takes the
// durable-in-WAL and s3-tier batches of every partition that is due (a
// wal-tier partition with little queued waits up to PartitionFlushAge, so
// that a trickle does not cost an index commit per flush), writes them as one
// segment (blocks of one partition each), PUTs it under a never-reused key,
// then commits every partition's index state in one multi-partition commit
// (Index.CommitPartitions), each by compare-and-swap on the revision it last
// read; partitions that commit fails are retried one at a time. A purger
// goroutine removes, every WALPurgeInterval, the WAL messages below what each
// partition's index covers (with writer chains, below the first message any
// partition still needs; chain.go). Only one flush is in flight at a time, so
// each partition's commits happen in offset order; while a flush is in flight
// new batches queue for the next one, so the number of PUTs per second is set
// by the flush interval, not by the number of partitions or producers.
//
// Crash ordering: WAL append, acknowledgement, segment PUT, index commit, WAL
// purge. A crash before the commit leaves the batches in the WAL, where the
// next leader finds them; a crash after the PUT leaves an unreferenced object
// (garbage, never read); a crash between two partitions' commits leaves some
// partitions committed and others not, which is fine because every partition
// is consistent on its own.
//
// Lifecycle (lifecycle.go, rewrite.go): the partition's leader also moves
// its log start offset (retention and DeleteRecords, planned by
// coordinator/schedule) and replaces runs of index entries with merged or
// key-compacted per-partition segments (written by tiered/compact), each
// index entry of such a segment standing for all its blocks
// (segment.IndexEntry.Whole; readers find the blocks through the object's
// footer, cached like blocks). These edits commit by compare-and-swap with
// the leader epoch, serialised with the flush's commits by Log.commitMu, and
// never change an offset. Objects a commit would reference must be younger
// than Config.ObjectGrace, the garbage collector's grace (tiered/gc): a
// flush or rewrite that takes longer is abandoned rather than point the
// index at an object the collector may already count as an orphan. A read
// that finds an object gone (collected after the grace while the read held
// an old state) reads again from the current state.
//
// Backpressure: what waits for object storage is held in memory, bounded by
// MaxTailBytes and MaxTailAge; past either, Append returns ErrBackpressure
// (retriable) rather than acknowledge what could not be flushed.
//
// Alternatives rejected: acknowledging before the index commit without a WAL
// (a crash would lose acknowledged records); a PUT per partition (S3 cost grows with the
// partition count); pipelining several flushes (needs ordered commits across
// flushes for little gain at a 250 ms interval).
//
// Lock order: Log.commitMu, then Log.mu, then partition.mu. commitMu
// serialises index commits (flushes and lifecycle edits) and is held across
// their I/O; the other two never are.
//
// Usage:
//
//	log, err := tiered.New(tiered.Config{Bucket: b, Index: store, NodeID: "1"})
//	go log.Run(ctx)
//	a, err := log.Append(ctx, tp, batchBytes)
//	err = a.Wait(ctx) // durable and visible
//	res, err := log.Read(ctx, tp, offset, 1<<20, tiered.ReadUncommitted)
package tiered
