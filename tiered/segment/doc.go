// Package segment defines the segment object: the immutable object in which
// Strata stores Kafka RecordBatch v2 batches in object storage. A gateway's
// flush writes one segment holding batches of many partitions; compaction
// writes per-partition segments. This package doc is the format's
// specification, which readers outside Strata (analytics, replay) rely on.
//
// The package owns the byte format: Writer, the footer index, the trailer and
// the format version. It does not name objects, upload them or store the
// index: tiered uploads a segment, then commits its entries to the
// coordinator, then purges the write-ahead log up to what the segment holds,
// in that order, so that a crash at any point leaves either an unreferenced
// object (deleted after a grace period) or a committed, complete one.
//
// # Layout
//
//	segment := block* footer trailer
//
// A block is one or more whole RecordBatch v2 batches (see package batch) of
// one partition, in increasing offset order, stored byte for byte as Kafka
// clients produce and fetch them. V1 writers lay blocks out back to back from
// byte 0; readers accept gaps between them.
//
// The footer indexes the blocks. All integers are big-endian.
//
//	footer := entryCount uint32 | entry{entryCount}
//
//	entry (EntrySize = 60 bytes):
//	 0                                16          20              28
//	+--------------------------------+-----------+---------------+
//	| topicID [16]byte               | partition | baseOffset    |
//	|                                | int32     | int64         |
//	+--------------------------------+-----------+---------------+
//	 28              36              44              52       56       60
//	+---------------+---------------+---------------+--------+--------+
//	| lastOffset    | maxTimestamp  | position      | length | records|
//	| int64         | int64         | uint64        | uint32 | uint32 |
//	+---------------+---------------+---------------+--------+--------+
//
//	topicID      the topic's id (KIP-516), not its name, which can be reused
//	baseOffset   base offset of the block's first batch
//	lastOffset   last offset of the block's last batch (base + lastOffsetDelta)
//	maxTimestamp the largest batch maxTimestamp in the block
//	position     byte offset of the block in the object
//	length       size of the block in bytes
//	records      sum of the batches' record counts
//
// The trailer (TrailerSize = 24 bytes) ends the object:
//
//	 0              4              8         10        12         16                24
//	+--------------+--------------+---------+---------+----------+------------------+
//	| footerLength | footerCRC    | version | flags   | reserved | magic "STRATSEG" |
//	| uint32       | uint32       | uint16  | uint16  | [4]byte  | [8]byte          |
//	+--------------+--------------+---------+---------+----------+------------------+
//
//	footerLength the footer's size: 4 + 60*entryCount
//	footerCRC    CRC-32C (Castagnoli) of the footer followed by trailer
//	             bytes 8 to 24; it thus covers footerLength indirectly
//	version      the format version (Version); magic and version keep their
//	             places in every version
//	flags        format feature flags; a reader refuses any it does not know
//	reserved     zero
//
// # Versions
//
//	V1 (1)  blocks, 60-byte entries, 24-byte trailer as above.
//
// A new version may change anything except where the magic (the object's
// last 8 bytes) and the version (trailer bytes 8 to 10) are. Readers return ErrUnsupportedVersion for versions and flags
// they do not know, ErrCorrupt for everything else that is wrong.
//
// # Invariants
//
// Every segment a Writer completes satisfies, and ReadIndex checks:
//   - entries are in position order, blocks lie inside the blocks region
//     [0, size-footerLength-24) and do not overlap;
//   - 0 <= baseOffset <= lastOffset, and records <= lastOffset-baseOffset+1
//     (compaction can leave fewer records than offsets, never more);
//   - the blocks of one partition appear in increasing offset order, so a
//     partition can be read front to back by walking the footer.
//
// Readers never panic on any input and allocate at most the footer length
// (bounded by MaxFooterLength and the object size) before checking the CRC.
//
// # Reading
//
// With ranged GETs: learn the object size, fetch the last TrailerSize bytes
// (or a larger suffix, which likely holds the footer too) and DecodeTrailer;
// fetch the Trailer.IndexSize() suffix if not yet held and DecodeFooter; then
// fetch each needed block by its position and length and walk its batches
// with batch.Each. With an io.ReaderAt, ReadIndex and ReadBlock do the same.
//
//	entries, err := segment.ReadIndex(r, size)
//	for _, e := range entries {
//		block, err := segment.ReadBlock(r, e)
//		err = batch.Each(block, func(b []byte, h batch.Header) error { ... })
//	}
//
// Writing:
//
//	w := segment.NewWriter(buf, segment.WriterOptions{})
//	err := w.Add(topicID, 0, batchesOfPartition0)
//	err = w.Add(topicID, 1, batchesOfPartition1)
//	entries, err := w.Close() // then upload buf, then commit entries
package segment
