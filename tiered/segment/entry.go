package segment

// IndexEntry locates one block of a segment object: a run of consecutive
// RecordBatch v2 batches of one partition, in offset order. The footer of every
// segment holds one entry per block (see the package doc for its encoding);
// the coordinator stores the same entries (with Object filled in) as the
// partition's segment index.
type IndexEntry struct {
	// Object is the key of the segment object holding the block. Footers leave
	// it empty (an object does not name itself); the index sets it.
	Object string `json:"object,omitempty"`
	// TopicID is the Kafka topic id (KIP-516) the block belongs to.
	TopicID [16]byte `json:"topic_id"`
	// Partition is the partition number within the topic.
	Partition int32 `json:"partition"`
	// BaseOffset is the base offset of the first batch in the block.
	BaseOffset int64 `json:"base_offset"`
	// LastOffset is the last offset of the last batch in the block.
	LastOffset int64 `json:"last_offset"`
	// MaxTimestamp is the largest MaxTimestamp of the batches in the block
	// (-1 when no batch carries a timestamp, as Kafka's empty batches).
	MaxTimestamp int64 `json:"max_timestamp"`
	// Position is the byte offset of the block in the object.
	Position int64 `json:"position"`
	// Length is the size of the block in bytes; the footer stores it as a
	// uint32, so a block is at most 4 GiB.
	Length int64 `json:"length"`
	// Records is the number of records in the block's batches (a uint32 in
	// the footer). After compaction it can be less than the number of
	// offsets the block covers.
	Records int64 `json:"records"`
	// Whole is set, in a partition's index only (never in a footer), on an
	// entry that stands for every block of a per-partition segment written
	// by merging or compaction: Position and Length span the blocks, and a
	// reader finds each block through the object's own footer. A
	// partition's index thus holds one entry per merged object, not one
	// per block.
	Whole bool `json:"whole,omitempty"`
}
