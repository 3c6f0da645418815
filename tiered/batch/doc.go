// Package batch reads and writes the Kafka RecordBatch v2 format (magic 2,
// Kafka 0.11 and later): the unit in which producers send records, the log
// stores them and consumers fetch them. Strata keeps batches as these bytes
// from produce to fetch, so this package is the one place that knows them.
//
// It owns the data format only: the header view, CRC-32C verification, record
// decoding (with decompression) and an encoder. The request protocol around
// batches belongs to gateway, offsets and producer state to tiered, and
// segment objects to tiered/segment.
//
// # Batch layout
//
// All integers are big-endian. The CRC covers bytes 21 to the end of the
// batch, so BaseOffset, Length, PartitionLeaderEpoch and Magic can be
// rewritten in place without recomputing it (SetBaseOffset,
// SetPartitionLeaderEpoch).
//
//	 0                   8          12                   16    17          21
//	+-------------------+----------+--------------------+-----+-----------+
//	| baseOffset int64  | length   | partitionLeader    |magic| crc       |
//	|                   | int32    | Epoch int32        |int8 | uint32    |
//	+-------------------+----------+--------------------+-----+-----------+
//	21           23                 27                   35                  43
//	+------------+------------------+--------------------+-------------------+
//	| attributes | lastOffsetDelta  | baseTimestamp      | maxTimestamp      |
//	| int16      | int32            | int64              | int64             |
//	+------------+------------------+--------------------+-------------------+
//	43                  51           53              57              61
//	+-------------------+------------+---------------+---------------+-------
//	| producerId int64  | producer   | baseSequence  | recordsCount  | records
//	|                   | Epoch int16| int32         | int32         | ...
//	+-------------------+------------+---------------+---------------+-------
//	                                                   <- crc covers 21..end ->
//
//	length      = number of bytes after the length field (batch size - 12)
//	attributes  = bit 0-2 compression (Codec: 0 none, 1 gzip, 2 snappy,
//	              3 lz4, 4 zstd), bit 3 timestamp type (1 = LogAppendTime),
//	              bit 4 transactional, bit 5 control, bit 6 hasDeleteHorizonMs
//	records     = recordsCount records, compressed as a whole by the codec
//
// Snappy comes in two framings, both accepted: a raw snappy block, or the
// xerial stream that the Java client and librdkafka write (the magic
// "\x82SNAPPY\x00", int32 version, int32 compatible version, then blocks of
// [length int32][raw snappy block]). Encode writes xerial. lz4 is the standard
// lz4 frame format, gzip and zstd their standard formats.
//
// # Record layout
//
// Varints are zigzag-encoded, as protobuf's sint: varint fits an int32 (at
// most 5 bytes), varlong an int64 (at most 10).
//
//	record := length varint          bytes after this field
//	          attributes int8        unused, 0
//	          timestampDelta varlong from baseTimestamp
//	          offsetDelta varint     from baseOffset
//	          keyLength varint       -1 for a null key
//	          key [keyLength]byte
//	          valueLength varint     -1 for a null value (a tombstone)
//	          value [valueLength]byte
//	          headerCount varint
//	          header*                := keyLength varint, key, valueLength varint, value
//
// # Invariants
//
// Decoders (ReadHeader, Verify, Each, EachRecord) never panic and never
// allocate more than the input justifies: counts and lengths are checked
// against the bytes present before anything is allocated, and decompressed
// output is capped by the caller's limit (ErrTooLarge). Every error wraps one
// of ErrTruncated, ErrUnsupportedMagic, ErrCorrupt or ErrTooLarge, except
// errors from callbacks, which are returned unwrapped. ErrCorrupt is the
// corruption marker: never retry it.
//
// Verify accepts what a stored batch may look like, which is more than a
// producer sends: compaction leaves batches with fewer records than offsets
// (NumRecords < LastOffsetDelta+1) and even with none. Produce-time rules
// (BaseOffset 0, NumRecords == LastOffsetDelta+1, sequence checks) belong to
// the gateway.
//
// The package has no mutable package-level state; a Decoder carries the
// decompressors' reusable state and belongs to its caller.
//
// # Usage
//
// Validate and re-offset the batches of a produce request:
//
//	err := batch.Each(records, func(b []byte, _ batch.Header) error {
//		h, err := batch.Verify(b)
//		if err != nil {
//			return err
//		}
//		batch.SetBaseOffset(b, next)
//		next += int64(h.LastOffsetDelta) + 1
//		return nil
//	})
//
// Read the records of stored batches, for compaction:
//
//	d := batch.NewDecoder(64 << 20)
//	defer d.Close()
//	err := batch.Each(block, func(b []byte, _ batch.Header) error {
//		return d.EachRecord(b, func(r batch.Record) error { ...; return nil })
//	})
package batch
