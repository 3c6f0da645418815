package batch

import (
	"encoding/binary"
	"hash/crc32"
)

// Empty returns the batch without records that stands in for the batch h
// heads once compaction has removed all its records but must keep the batch
// itself: the last batch of an idempotent producer, so that its sequence
// numbers and epoch survive, or the last batch of a cleaning round, so that
// the log's last offset does. It is what Kafka's
// DefaultRecordBatch.writeEmptyHeader writes for the cleaner's
// BatchRetention.RETAIN_EMPTY: the same base and last offset, leader epoch,
// producer id, epoch and base sequence, timestamp type, transactional and
// control flags and MaxTimestamp; no records, no compression, no delete
// horizon, and FirstTimestamp -1.
//
// Encode cannot write it: for a batch without records Encode sets
// MaxTimestamp to -1 (unless LogAppendTime), while Kafka keeps the original
// batch's, which time-based retention and ListOffsets by timestamp read.
//
// h must be a header that Check accepts; Empty reads no bytes.
func Empty(h Header) []byte {
	e := Header{
		BaseOffset:           h.BaseOffset,
		Length:               minLength,
		PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		Magic:                Magic,
		Attributes:           h.Attributes & (AttrLogAppendTime | AttrTransactional | AttrControl),
		LastOffsetDelta:      h.LastOffsetDelta,
		FirstTimestamp:       -1,
		MaxTimestamp:         h.MaxTimestamp,
		ProducerID:           h.ProducerID,
		ProducerEpoch:        h.ProducerEpoch,
		BaseSequence:         h.BaseSequence,
	}
	out := make([]byte, HeaderSize)
	putHeader(out, e)
	binary.BigEndian.PutUint32(out[posCRC:], crc32.Checksum(out[posAttributes:], castagnoli))
	return out
}
