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
// Invariants, per partition:
//   - offsets are assigned in append order, contiguously, and never reused: an
//     offset becomes visible only when the commit that covers it has succeeded,
//     and a failed flush discards its offsets together with every later pending
//     batch of the partition, which then reloads its state from the index;
//   - the high watermark only moves up, and only after the segment holding the
//     batches is durable in object storage and the index commit naming it has
//     won its compare-and-swap;
//   - an append is acknowledged only after that commit (acks=1 and acks=all
//     alike; durability is the object store's).
//
// Mechanism: Append validates and queues a batch on its partition and returns an
// Appended to wait on. One goroutine (Run) flushes: every FlushInterval, or
// sooner once FlushBytes are queued, it takes the queued batches of every
// partition, writes them as one segment (blocks of one partition each), PUTs it
// under a never-reused key, then commits each partition's index state by
// compare-and-swap on the revision it last read, in parallel. Only one flush is in
// flight at a time, so each partition's commits happen in offset order; while a
// flush is in flight new appends queue for the next one (group commit), so the
// number of PUTs per second is set by the flush interval, not by the number of
// partitions or producers.
//
// Crash ordering: segment PUT, then index commit, then acknowledgement. A crash
// after the PUT leaves an unreferenced object (garbage, never read); a crash
// between two partitions' commits leaves some partitions committed and others
// not, which is fine because nothing unacknowledged is visible and every partition
// is consistent on its own.
//
// Alternatives rejected: acknowledging before the index commit (a crash would
// lose acknowledged records); a PUT per partition (S3 cost grows with the
// partition count); pipelining several flushes (needs ordered commits across
// flushes for little gain at a 250 ms interval).
//
// Lock order: Log.mu before partition.mu. Neither is held across I/O.
//
// Usage:
//
//	log, err := tiered.New(tiered.Config{Bucket: b, Index: store, NodeID: "1"})
//	go log.Run(ctx)
//	a, err := log.Append(ctx, tp, batchBytes)
//	err = a.Wait(ctx) // durable and visible
//	res, err := log.Read(ctx, tp, offset, 1<<20)
package tiered
