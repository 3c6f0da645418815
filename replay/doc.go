// Package replay reads a topic's records straight from object storage, by
// the coordinator's segment index, with no gateway in the path: what `strata
// replay` runs for backfills, new services reading a topic from its start,
// and exports to analytics.
//
// It is a reader only. It reads the topic record and each partition's index
// from the coordinator (coordinator.OpenReadOnly binds the buckets without
// changing them) and ranged GETs from the bucket, so nothing it does can
// disturb producers or consumers. It sees what the index holds: every record
// a flush has made durable in object storage, not the newest records still
// only in the write-ahead tail (at most a flush interval, 250 ms by default,
// behind a gateway's high watermark).
//
// # Reading
//
// Each partition's index entries are planned into GETs: the blocks of a
// merged per-partition segment (an entry with IndexEntry.Whole) come from
// that object's footer, and adjacent blocks of one object are coalesced
// into one ranged GET of up to Options.MaxGetBytes. Every partition reads
// ahead, and Options.Concurrency bounds the GETs in flight across all of
// them, Options.MaxBufferedBytes the bytes fetched and not yet delivered.
// Every block is checked against its index entry (offsets, record count,
// timestamps) and every batch's CRC-32C before a record of it is delivered:
// a missing or corrupt object fails the replay with an error naming the
// object, the byte position and the offsets, never with wrong records.
//
// Records are delivered in offset order per partition; partitions
// interleave. Control batches (transaction markers) are never delivered,
// and with Options.ReadCommitted neither are the records of aborted
// transactions.
//
// # Ranges
//
// An offset range [FromOffset, ToOffset) is cut to the log's [log start,
// high watermark). A time range works as Kafka's ListOffsets by timestamp
// (and kcat's -o s@T / -o e@T): it starts at the first record whose timestamp
// is at or after From and stops before the first at or after To, so records
// in between are delivered whatever their own timestamps. Index entries whose
// largest timestamp is before From are not read at all.
package replay
