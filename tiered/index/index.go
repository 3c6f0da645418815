// Package index defines the committed state of one partition's log: where its
// batches live (segment index entries), its offsets, and its idempotent
// producers. The coordinator stores a Partition per partition and replaces it
// only by compare-and-swap on the stored revision; the tiered log reads it when
// it takes a partition and writes a new one after every flush.
//
// It holds types only, so that the coordinator (which stores them) and tiered
// (which produces them) share one definition without importing each other.
package index

import (
	"errors"
	"time"

	"github.com/stratalog/strata/tiered/segment"
)

// Errors a store of partition state returns from a commit. They live here, with
// the types, so that the writer (tiered) can tell them apart without importing the
// store (coordinator).
var (
	// ErrConflict means the stored state changed since it was read: the
	// compare-and-swap on its revision failed.
	ErrConflict = errors.New("index: partition state changed since it was read")
	// ErrFenced means the stored state carries a newer leader epoch than the
	// commit: another leader has taken the partition.
	ErrFenced = errors.New("index: partition is held by a newer leader epoch")
)

// TopicPartition names a partition by topic id, which unlike the topic name is
// never reused after a topic is deleted.
type TopicPartition struct {
	TopicID   [16]byte
	Partition int32
}

// Partition is the committed state of a partition's log. Invariants:
//   - Entries are in offset order and do not overlap;
//   - every offset in [LogStartOffset, HighWatermark) is covered by Entries,
//     except offsets a batch skipped (compaction);
//   - HighWatermark only moves up, and LeaderEpoch only moves up.
type Partition struct {
	// LeaderEpoch is the epoch of the leader that made the last commit. A
	// commit carrying an older epoch is fenced.
	LeaderEpoch int32 `json:"leader_epoch"`
	// LogStartOffset is the first offset a consumer may read.
	LogStartOffset int64 `json:"log_start_offset"`
	// HighWatermark is the next offset to assign: every offset below it is
	// durable and visible to consumers.
	HighWatermark int64 `json:"high_watermark"`
	// Entries is the whole segment index of the partition, oldest first.
	Entries []segment.IndexEntry `json:"-"`
	// Chunks lists the runs of leading Entries that the coordinator keeps in
	// separate immutable records so that each commit writes only the recent
	// tail. The coordinator manages it; other code carries it along unchanged.
	Chunks []Chunk `json:"chunks,omitempty"`
	// Producers is the idempotent-producer state by producer id.
	Producers map[int64]Producer `json:"producers,omitempty"`
	// Epochs is the leader epoch history, oldest first: each claim's epoch
	// and the offset its leader started at (Kafka's leader-epoch
	// checkpoint), at most MaxEpochs, for OffsetForLeaderEpoch.
	Epochs []EpochStart `json:"epochs,omitempty"`
	// CleanedOffset is where the last key compaction stopped (Kafka's
	// cleaner checkpoint): offsets below it are clean, the rest is dirty.
	CleanedOffset int64 `json:"cleaned_offset,omitempty"`
	// DeleteHorizonMs is the earliest delete horizon (Unix ms, KIP-534) of
	// the tombstones the last key compaction kept, or 0: once it passes,
	// cleaning again removes them.
	DeleteHorizonMs int64 `json:"delete_horizon_ms,omitempty"`
	// OpenTxns is the partition's open transactions: each transactional
	// producer with records after its last marker, by producer id, and the
	// offset of its first such record. The last stable offset is the
	// smallest of these, or the high watermark.
	OpenTxns map[int64]int64 `json:"open_txns,omitempty"`
	// Aborted is the aborted-transaction index (Kafka's .txnindex), oldest
	// first: what a read_committed consumer skips.
	Aborted []AbortedTxn `json:"aborted_txns,omitempty"`
	// WALSeq is the sequence of the last write-ahead-tail message whose
	// batches are below HighWatermark, or 0: a replay of the tail starts
	// after it, whatever the purges have not yet removed.
	WALSeq uint64 `json:"wal_seq,omitempty"`
	// WALWriter names the WAL writer chain that holds the batches above
	// HighWatermark (wal.Writer.ChainOf), WALSeq being a sequence of its
	// shard's stream; empty when they are on the partition's own WAL
	// subject (written without chains, or never written).
	WALWriter string `json:"wal_writer,omitempty"`
}

// AbortedTxn is one aborted transaction of a partition: its producer, its
// first record's offset and its abort marker's offset.
type AbortedTxn struct {
	ProducerID  int64 `json:"producer_id"`
	FirstOffset int64 `json:"first_offset"`
	LastOffset  int64 `json:"last_offset"`
}

// MaxEpochs is how many leader epochs a partition remembers. A consumer
// asking about an older one is told the oldest start offset kept.
const MaxEpochs = 64

// EpochStart is one leader epoch and the first offset written in it.
type EpochStart struct {
	Epoch       int32 `json:"epoch"`
	StartOffset int64 `json:"start_offset"`
}

// EndOffsetFor answers OffsetForLeaderEpoch as Kafka's LeaderEpochFileCache:
// for the current epoch the log end offset; for an earlier one, the largest
// known epoch at or below it and the start offset of the epoch after it;
// for one below every known epoch, itself and the oldest start offset; for
// one above every known epoch, or with no history, -1 and -1.
func (p Partition) EndOffsetFor(epoch int32) (int32, int64) {
	es := p.Epochs
	if len(es) == 0 || epoch < 0 {
		return -1, -1
	}
	if epoch == es[len(es)-1].Epoch {
		return epoch, p.HighWatermark
	}
	for i, e := range es {
		if e.Epoch > epoch {
			if i == 0 {
				return epoch, e.StartOffset
			}
			return es[i-1].Epoch, e.StartOffset
		}
	}
	return -1, -1
}

// Chunk names a run of Count consecutive Entries stored as one immutable record.
type Chunk struct {
	Key         string `json:"key"`
	Count       int    `json:"count"`
	FirstOffset int64  `json:"first_offset"`
	LastOffset  int64  `json:"last_offset"`
}

// MaxProducerBatches is how many recent batches per producer are remembered for
// duplicate detection: Kafka clients keep at most five requests in flight per
// connection when idempotence is on.
const MaxProducerBatches = 5

// Producer is what a partition remembers of one idempotent producer.
type Producer struct {
	Epoch int16 `json:"epoch"`
	// Batches are the most recent batches written, oldest first, at most
	// MaxProducerBatches.
	Batches []ProducerBatch `json:"batches"`
	// LastTimestamp is the wall-clock time in milliseconds of the last write,
	// used to expire idle producers.
	LastTimestamp int64 `json:"last_timestamp"`
}

// ProducerBatch records where one idempotent batch was written.
type ProducerBatch struct {
	FirstSequence int32 `json:"first_sequence"`
	LastSequence  int32 `json:"last_sequence"`
	BaseOffset    int64 `json:"base_offset"`
	LastOffset    int64 `json:"last_offset"`
}

// Commit is one partition's part of a multi-partition commit: store Next if
// the stored revision is still PrevRevision (0: nothing stored yet).
type Commit struct {
	TP           TopicPartition
	Next         Partition
	PrevRevision uint64
}

// CommitResult is one Commit's outcome: the state as stored (which may carry
// updated Chunks) and its new revision, or the error a single-partition
// commit would have returned.
type CommitResult struct {
	Stored   Partition
	Revision uint64
	Err      error
}

// StoredChunk is one chunk record of a partition's index as the store holds
// it, for garbage collection: a chunk no head references is garbage.
type StoredChunk struct {
	TP       TopicPartition
	Key      string
	Revision uint64
	// Written is when this revision was written.
	Written time.Time
}

// RewriteStats is what one segment merge or key compaction of a partition
// did (tiered.Log.Merge and Clean), for the scheduler's accounting.
type RewriteStats struct {
	BytesRead, BytesWritten int64
	Gets, Puts              int
	// EntriesBefore and EntriesAfter count the index entries replaced and
	// their replacement.
	EntriesBefore, EntriesAfter int
}
