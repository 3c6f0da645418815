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
// Every partition's index entries are planned into blocks (those of a
// merged per-partition segment, an entry with IndexEntry.Whole, come from
// that object's footer), and the blocks of all partitions into one order of
// ranged GETs that keeps each partition's blocks in offset order and
// fetches together the blocks of different partitions lying side by side
// in one object, as a flush writes them: adjacent blocks make one GET of up
// to Options.MaxGetBytes. The GETs run in that order, Options.Concurrency at
// a time, ahead of delivery by at most Options.MaxBufferedBytes; each block
// goes to its partition's worker as soon as its bytes have arrived, before
// the rest of its GET, and each worker delivers its blocks one after
// another, the partitions in parallel.
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
