package compact

import (
	"fmt"

	"github.com/stratalog/strata/tiered/batch"
)

// Cleaner removes the records that key compaction (cleanup.policy=compact)
// may remove from batches of one partition: every record but the latest for
// its key, tombstones whose delete horizon has passed, and records without a
// key. It follows Kafka's log cleaner (kafka.log.LogCleaner, whose logic lives
// in org.apache.kafka.storage.internals.log.Cleaner since Kafka 3.9:
// cleanInto, shouldRetainRecord) and the batch rewriting of
// MemoryRecords.filterTo. Its Clean method is a Config.Clean for Rewrite.
//
// Set the exported fields, then call Clean on every batch of the range to
// clean, in offset order. A Cleaner is not safe for concurrent use.
type Cleaner struct {
	// Map holds the latest offset of each key over the range being cleaned
	// (or a prefix of it, see OffsetMap.LatestOffset). Required.
	Map *OffsetMap
	// Now is the cleaning time, in Unix milliseconds: the "currentTime" of
	// Kafka's cleaner, to which delete horizons are compared.
	Now int64
	// DeleteRetentionMs is the topic's delete.retention.ms (Kafka's default
	// is one day): how long a tombstone survives after the first cleaning
	// that sees it (KIP-534).
	DeleteRetentionMs int64
	// MaxDecompressed limits what one batch's records may decompress to;
	// zero or negative means DefaultMaxDecompressed. A batch over it fails
	// Clean with batch.ErrTooLarge.
	MaxDecompressed int
	// KeepLast reports whether h is the batch holding the last sequence
	// number of an active idempotent producer (one with ProducerID >= 0) in
	// the partition's log. When all its records are removed, such a batch
	// is kept without records (batch.Empty), so that the producer's
	// sequence and epoch survive compaction (Kafka's
	// BatchRetention.RETAIN_EMPTY for isBatchLastRecordOfProducer). Clean
	// asks only about batches with a producer id. Nil: no batch is.
	KeepLast func(h batch.Header) bool
	// UpperBound is the offset after the last batch of the cleaning round,
	// or 0 for none. A batch ending at UpperBound-1 is also kept without
	// records rather than dropped, as Kafka keeps the last batch of a
	// round (upperBoundOffsetOfCleaningRound), so that the log's last
	// offset survives cleaning: a cleaned range must still end where the
	// index says it does.
	UpperBound int64
	// Aborted reports whether h is a data batch of an aborted transaction:
	// its records are removed whatever their keys (Kafka's
	// CleanedTransactionMetadata and discardBatchRecords), so that an
	// aborted record never stays as its key's value. The caller also
	// leaves such batches out of the OffsetMap. Nil: no batch is.
	Aborted func(h batch.Header) bool

	dec        *batch.Decoder
	kept       []batch.Record // Clean's scratch
	stats      Stats
	hasHorizon bool // stats.NextHorizon is set
}

// Stats counts what a Cleaner did over all its Clean calls.
type Stats struct {
	// Batches read, and how each left Clean: returned unchanged (the same
	// bytes), rewritten with fewer records or a new delete horizon,
	// replaced by an empty batch, or dropped.
	Batches, BatchesUnchanged, BatchesRewritten, BatchesEmptied, BatchesDropped int64
	// Records read, kept and removed; control records count as kept.
	Records, RecordsKept, RecordsRemoved int64
	// TombstonesKept and TombstonesRemoved count the records with a null
	// value among those kept and removed.
	TombstonesKept, TombstonesRemoved int64
	// NullKeysRemoved counts records removed for having no key, which a
	// compacted topic cannot hold (Kafka's CleanerStats.invalidMessage).
	NullKeysRemoved int64
	// NextHorizon is the smallest delete horizon (Unix ms) of the batches
	// Clean returned that still hold tombstones, or -1 if none does: from
	// then on, cleaning again removes tombstones. A horizon at or before
	// Now belongs to tombstones kept for another reason (past
	// Map.LatestOffset).
	NextHorizon int64
}

// Stats returns the counts so far.
func (c *Cleaner) Stats() Stats {
	s := c.stats
	if !c.hasHorizon {
		s.NextHorizon = -1
	}
	return s
}

// Close releases the decompressors' resources. The Cleaner stays usable.
func (c *Cleaner) Close() {
	if c.dec != nil {
		c.dec.Close()
	}
}

// Clean returns the batch b (whose header is h) with the records key
// compaction removes taken out, or nil when nothing of the batch remains.
// Offsets never change: a rewritten batch keeps its base offset and its last
// offset (LastOffsetDelta, Kafka's MemoryRecordsBuilder.overrideLastOffset,
// so that the producer's last sequence still lines up), and every record its
// offset.
//
// A record survives when its offset is past Map.LatestOffset (the map does
// not cover it), or it has a key, its offset is at least the map's latest
// offset for that key, and it is not a tombstone whose batch's delete horizon
// has passed (Now >= horizon). Records with a null key are removed: Kafka
// refuses them in a compacted topic at produce time (LogValidator,
// "Compacted topic cannot accept message without key") and its cleaner drops
// old ones (shouldRetainRecord counts them as invalid messages).
//
// The batch is then:
//   - returned as is (the same bytes, not re-encoded) when every record
//     survives and the batch needs no new delete horizon; control batches,
//     which compaction does not touch yet, too;
//   - rewritten with batch.Encode when records were removed, or when it
//     holds tombstones but no delete horizon yet: the first cleaning sets
//     the horizon to Now+DeleteRetentionMs (KIP-534, attribute bit 6 with
//     the horizon in FirstTimestamp; record timestamps are kept). The
//     rewrite keeps the codec, attributes, producer id, epoch and base
//     sequence, leader epoch and an existing horizon;
//   - replaced by batch.Empty when no record survives and KeepLast or
//     UpperBound asks to keep it;
//   - dropped (nil) otherwise.
//
// h is b's header as batch.Each hands it out; Clean reads it again from b,
// which it verifies (batch.Verify, then every record). It returns an error
// wrapping ErrCorrupt for a batch that fails (or bytes after it), one
// wrapping batch.ErrTooLarge for records that decompress past
// MaxDecompressed, and one wrapping ErrInvalid without a Map.
func (c *Cleaner) Clean(b []byte, h batch.Header) ([]byte, error) {
	if c.Map == nil {
		return nil, fmt.Errorf("clean batch: no offset map: %w", ErrInvalid)
	}
	h, err := batch.Verify(b)
	if err != nil {
		return nil, fmt.Errorf("clean batch: %w", corrupt(err))
	}
	if len(b) != h.Size() {
		return nil, fmt.Errorf("clean batch at offset %d: %d bytes after it: %w: %w",
			h.BaseOffset, len(b)-h.Size(), ErrCorrupt, batch.ErrCorrupt)
	}
	c.stats.Batches++
	if h.Control() {
		// Markers stay: the partition's aborted index names their
		// transactions, and a marker is a few dozen bytes. (Kafka also
		// removes, past a delete horizon, the markers of transactions with
		// nothing left.)
		c.stats.BatchesUnchanged++
		c.stats.Records += int64(h.NumRecords)
		c.stats.RecordsKept += int64(h.NumRecords)
		return b, nil
	}
	if h.Transactional() && c.Aborted != nil && c.Aborted(h) {
		c.stats.Records += int64(h.NumRecords)
		c.stats.RecordsRemoved += int64(h.NumRecords)
		c.kept = c.kept[:0]
		return c.result(b, h, 0)
	}
	tombstones, err := c.filter(b, h)
	if err != nil {
		return nil, err
	}
	return c.result(b, h, tombstones)
}

// filter decodes the records of b into c.kept, keeping those that survive, and
// reports how many kept records are tombstones.
func (c *Cleaner) filter(b []byte, h batch.Header) (tombstones int, err error) {
	if c.dec == nil {
		n := c.MaxDecompressed
		if n <= 0 {
			n = DefaultMaxDecompressed
		}
		c.dec = batch.NewDecoder(n)
	}
	c.kept = c.kept[:0]
	var s Stats
	err = c.dec.EachRecord(b, func(r batch.Record) error {
		s.Records++
		tomb := int64(0)
		if r.Value == nil {
			tomb = 1
		}
		if !c.retain(h, r) {
			s.RecordsRemoved++
			s.TombstonesRemoved += tomb
			if r.Key == nil {
				s.NullKeysRemoved++
			}
			return nil
		}
		s.RecordsKept++
		s.TombstonesKept += tomb
		c.kept = append(c.kept, r)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("clean batch at offset %d: %w", h.BaseOffset, corrupt(err))
	}
	c.stats.Records += s.Records
	c.stats.RecordsKept += s.RecordsKept
	c.stats.RecordsRemoved += s.RecordsRemoved
	c.stats.TombstonesKept += s.TombstonesKept
	c.stats.TombstonesRemoved += s.TombstonesRemoved
	c.stats.NullKeysRemoved += s.NullKeysRemoved
	return int(s.TombstonesKept), nil
}

// retain is Kafka's Cleaner.shouldRetainRecord for RecordBatch v2.
func (c *Cleaner) retain(h batch.Header, r batch.Record) bool {
	if r.Offset > c.Map.LatestOffset() {
		return true // beyond the range the map covers: nothing to compare with
	}
	if r.Key == nil {
		return false
	}
	if latest, ok := c.Map.Latest(r.Key); ok && r.Offset < latest {
		return false // superseded by a later record with the same key
	}
	if r.Value == nil {
		// A tombstone stays until the cleaning after its horizon
		// (KIP-534): the first cleaning only sets the horizon.
		return !h.DeleteHorizon() || c.Now < h.FirstTimestamp
	}
	return true
}

// result builds what Clean returns once filter has chosen the records.
func (c *Cleaner) result(b []byte, h batch.Header, tombstones int) ([]byte, error) {
	needHorizon := tombstones > 0 && !h.DeleteHorizon()
	switch {
	case len(c.kept) == int(h.NumRecords) && !needHorizon:
		c.stats.BatchesUnchanged++
		if tombstones > 0 { // then h has a horizon, or it would need one
			c.pending(h.FirstTimestamp)
		}
		return b, nil
	case len(c.kept) == 0 && c.keepEmpty(h):
		c.stats.BatchesEmptied++
		return batch.Empty(h), nil
	case len(c.kept) == 0:
		c.stats.BatchesDropped++
		return nil, nil
	}
	out := batch.Batch{
		BaseOffset:           h.BaseOffset,
		PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		Codec:                h.Compression(),
		Attributes:           h.Attributes &^ batch.AttrCompression,
		LastOffsetDelta:      h.LastOffsetDelta,
		FirstTimestamp:       h.FirstTimestamp, // the existing horizon, if any
		MaxTimestamp:         h.MaxTimestamp,   // the append time, with LogAppendTime
		ProducerID:           h.ProducerID,
		ProducerEpoch:        h.ProducerEpoch,
		BaseSequence:         h.BaseSequence,
		KeepOffsets:          true,
		Records:              c.kept,
	}
	if needHorizon {
		out.Attributes |= batch.AttrDeleteHorizon
		out.FirstTimestamp = c.Now + c.DeleteRetentionMs
	}
	enc, err := batch.Encode(out)
	if err != nil {
		// The records decoded from a valid batch re-encode unless the
		// batch grows past the format's limits.
		return nil, fmt.Errorf("clean batch at offset %d: re-encode: %w", h.BaseOffset, err)
	}
	c.stats.BatchesRewritten++
	if tombstones > 0 {
		c.pending(out.FirstTimestamp)
	}
	return enc, nil
}

// keepEmpty reports whether a batch whose records were all removed stays as
// an empty batch (Kafka's BatchRetention.RETAIN_EMPTY).
func (c *Cleaner) keepEmpty(h batch.Header) bool {
	if c.UpperBound > 0 && h.LastOffset() == c.UpperBound-1 {
		return true
	}
	return h.Idempotent() && c.KeepLast != nil && c.KeepLast(h)
}

// pending notes the delete horizon of a returned batch that holds tombstones.
func (c *Cleaner) pending(horizon int64) {
	if !c.hasHorizon || horizon < c.stats.NextHorizon {
		c.stats.NextHorizon, c.hasHorizon = horizon, true
	}
}
