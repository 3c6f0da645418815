package tiered

import "errors"

var (
	// ErrNotLeader means this gateway may not write the partition (any more):
	// another leader fenced it, or its state changed under it. Retriable: the
	// client refreshes metadata and retries.
	ErrNotLeader = errors.New("tiered: not the leader of the partition")
	// ErrOffsetOutOfRange means a read asked for an offset outside
	// [log start offset, high watermark].
	ErrOffsetOutOfRange = errors.New("tiered: offset out of range")
	// ErrOutOfOrderSequence means an idempotent batch's sequence does not follow
	// the producer's last one.
	ErrOutOfOrderSequence = errors.New("tiered: out of order sequence number")
	// ErrProducerFenced means an idempotent batch carries an older producer
	// epoch than the partition has seen for that producer id.
	ErrProducerFenced = errors.New("tiered: producer epoch is older than the current one")
	// ErrBackpressure means too much is queued for object storage (it is slow
	// or unreachable). Retriable.
	ErrBackpressure = errors.New("tiered: too much data waiting to be flushed")
	// ErrNotDurable means a batch could not be made durable (the flush failed).
	// Retriable.
	ErrNotDurable = errors.New("tiered: flush to object storage failed")
	// ErrBatchTooLarge means a batch does not fit in one WAL message (the
	// NATS servers' max_payload).
	ErrBatchTooLarge = errors.New("tiered: batch larger than the wal takes")
	// ErrCorruptTail means the WAL tail of a partition failed its checksum
	// or does not continue the indexed log: the partition cannot be loaded
	// without losing acknowledged records, so it is not served.
	ErrCorruptTail = errors.New("tiered: corrupt wal tail")
	// ErrClosed means the log is shutting down.
	ErrClosed = errors.New("tiered: log closed")
)
