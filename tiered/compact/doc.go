// Package compact does the object-level work of the tiered log's lifecycle
// jobs: merging a partition's blocks from many small multi-partition segment
// objects (written by flushes, "L0") into large per-partition segments, and
// Kafka key compaction (cleanup.policy=compact) on the way. The two types to
// learn first are Rewrite, which reads index entries and writes new objects,
// and Cleaner, whose Clean method removes what key compaction removes from a
// batch.
//
// # What it owns and what it leaves
//
// It owns reading blocks with coalesced ranged GETs, checking them against
// their index entries (segment.CheckBlock) and their batches (batch.Verify),
// writing per-partition segments (segment.Writer) and PUTting them, and the
// record-level rules of key compaction (OffsetMap, Cleaner).
//
// It leaves to its callers: choosing which entries to merge or clean, and
// when (coordinator/schedule); building the OffsetMap over the dirty range
// and knowing each idempotent producer's last batch (Cleaner.KeepLast);
// committing Result.Entries in place of the input entries, fenced by the
// partition's leader epoch and the index revision (tiered, coordinator); and
// deleting objects (garbage collection, after a grace period).
//
// # Crash contract
//
// Rewrite never deletes anything and never changes an index. Its order of
// writes is: PUT each output object, under a key from Config.NewKey that was
// never used, then return; the caller then commits the entries, then, later,
// garbage collection deletes the input objects once no committed entry
// references them and a grace period has passed, so that readers holding the
// old entries finish. A crash or an error at any point before the commit
// leaves the input untouched and the new objects unreferenced: garbage that
// collection removes after the grace period. Result.Objects lists them on
// error so the caller can log them. A job is thus idempotent: running it
// again writes new objects and the old attempt's become garbage.
//
// # Memory
//
// Rewrite buffers one output object at a time: up to Config.TargetBytes plus
// one batch and the footer, in one buffer reused from object to object. Its
// reads hold at most Config.GetParallelism coalesced ranges (each up to 8 MiB,
// or one block if larger) in flight or waiting their turn. Key compaction adds
// one batch's decompressed records (at most MaxDecompressed) and its
// re-encoding, and the OffsetMap: about 56 bytes a key (MaxEntriesFor).
//
// # Kafka semantics
//
// Key compaction follows Kafka's log cleaner: kafka.log.LogCleaner, whose
// cleaning moved to org.apache.kafka.storage.internals.log.Cleaner in Kafka
// 3.9 (buildOffsetMap, cleanInto, shouldRetainRecord), the batch rewriting of
// MemoryRecords.filterTo, and KIP-534's delete horizon:
//   - The OffsetMap keys records by the MD5 of their key, as SkimpyOffsetMap
//     does, and skips control batches and null keys.
//   - A record survives if it is past the map's range, or is the latest for
//     its key; a record without a key is removed (Kafka refuses them at
//     produce time for compacted topics, and its cleaner drops old ones).
//   - A tombstone survives its first cleaning, which stamps its batch with a
//     delete horizon (now + delete.retention.ms); a cleaning at or after the
//     horizon removes it.
//   - Offsets never change. A rewritten batch keeps its base and last offset
//     (overrideLastOffset), producer id, epoch and base sequence, leader
//     epoch, codec and flags; a batch with nothing removed and no horizon to
//     set is kept byte for byte.
//   - A batch left without records is dropped, unless it is an active
//     idempotent producer's last one or the round's last batch: those stay
//     as empty batches (BatchRetention.RETAIN_EMPTY, writeEmptyHeader), so
//     producer state and the log's last offset survive.
//
// Deviations:
//   - Transactions: records of aborted transactions are removed
//     (Cleaner.Aborted) and left out of the map, as Kafka does; markers are
//     kept, where Kafka removes, after a horizon, those of transactions
//     with nothing left. The caller cleans only below the last stable
//     offset.
//   - Cleaning is per batch over a range the caller chooses; Kafka's
//     cleaner-level choices (min.cleanable.dirty.ratio,
//     min.compaction.lag.ms, max.compaction.lag.ms, the first uncleanable
//     offset) belong to the scheduler.
//   - The map is all or nothing per batch: ErrMapFull leaves it covering
//     whole batches, where Kafka's may stop inside one.
//   - Only RecordBatch v2 exists in Strata, so Kafka's rules for legacy
//     message formats (retainLegacyDeletesAndTxnMarkers) have no
//     counterpart.
//
// # Usage
//
// Merge a partition's L0 blocks, cleaning a compacted topic on the way:
//
//	m := compact.NewOffsetMap(compact.MaxEntriesFor(128<<20), 0)
//	defer m.Close()
//	for each batch b of the dirty range, in offset order {
//		if err := m.Add(b); errors.Is(err, compact.ErrMapFull) {
//			// clean up to m.LatestOffset() only
//		}
//	}
//	c := &compact.Cleaner{Map: m, Now: time.Now().UnixMilli(), DeleteRetentionMs: 86_400_000,
//		KeepLast: isProducersLastBatch, UpperBound: entries[len(entries)-1].LastOffset + 1}
//	defer c.Close()
//	res, err := compact.Rewrite(ctx, compact.Config{Bucket: bucket, NewKey: newKey, Clean: c.Clean}, entries)
//	if err != nil {
//		// res.Objects are garbage; the input is untouched
//	}
//	// commit res.Entries in place of entries; next cleaning at c.Stats().NextHorizon
package compact
