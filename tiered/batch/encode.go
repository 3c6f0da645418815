package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// Batch describes a batch for Encode: the header fields a writer chooses, and
// the records. Encode computes the rest (Length, CRC, NumRecords, the deltas).
type Batch struct {
	BaseOffset           int64
	PartitionLeaderEpoch int32
	// Codec compresses the records section. A batch without records is
	// written uncompressed, as Kafka's DefaultRecordBatch.writeEmptyHeader
	// does.
	Codec Codec
	// Attributes holds the flags AttrLogAppendTime, AttrTransactional,
	// AttrControl and AttrDeleteHorizon. Its compression bits must be zero:
	// Codec sets them.
	Attributes int16
	// LastOffsetDelta is kept if it exceeds the last record's offset delta,
	// as compaction keeps the original batch's so that producer sequences
	// still line up (Kafka's MemoryRecordsBuilder.overrideLastOffset).
	// Otherwise the last record's delta is used.
	LastOffsetDelta int32
	// FirstTimestamp is used only with AttrDeleteHorizon, where it holds the
	// delete horizon. Otherwise it is the first record's timestamp, or -1
	// for a batch without records.
	FirstTimestamp int64
	// MaxTimestamp is used only with AttrLogAppendTime, where it is the
	// append time. Otherwise it is the largest record timestamp, or -1 for a
	// batch without records.
	MaxTimestamp int64
	// ProducerID, ProducerEpoch and BaseSequence are -1 without an
	// idempotent producer. The zero values are a valid producer: set them.
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
	// KeepOffsets makes each record's offset delta Record.Offset minus
	// BaseOffset (the deltas must increase, from 0 up); without it, the
	// deltas are the records' indexes and Record.Offset is ignored.
	KeepOffsets bool
	// Records are the records, in offset order. Each record's timestamp is
	// stored as a delta from FirstTimestamp.
	Records []Record
}

// errInvalid wraps caller mistakes in an Encode description.
var errInvalid = errors.New("invalid batch description")

// Encode encodes b as a RecordBatch v2. It returns an error for a description
// no valid batch matches, and one wrapping ErrTooLarge when the batch would
// exceed the format's 32-bit length or record count.
func Encode(b Batch) ([]byte, error) {
	codec, h, err := b.header()
	if err != nil {
		return nil, err
	}
	raw, lastDelta, err := b.appendRecords(nil, h.FirstTimestamp)
	if err != nil {
		return nil, err
	}
	h.LastOffsetDelta = max(lastDelta, b.LastOffsetDelta)
	out := make([]byte, HeaderSize, HeaderSize+len(raw)/2)
	if codec == CodecNone {
		out = append(out, raw...)
	} else if out, err = compress(out, codec, raw); err != nil {
		return nil, fmt.Errorf("encode batch: compress %v: %w", codec, err)
	}
	if int64(len(out))-lengthOverhead > math.MaxInt32 {
		return nil, fmt.Errorf("encode batch: %d bytes: %w", len(out), ErrTooLarge)
	}
	h.Length = int32(len(out) - lengthOverhead)
	putHeader(out, h)
	h.CRC = crc32.Checksum(out[posAttributes:], castagnoli)
	binary.BigEndian.PutUint32(out[posCRC:], h.CRC)
	return out, nil
}

// header validates b and returns the codec to use and the header fields that
// do not depend on the encoded records.
func (b Batch) header() (Codec, Header, error) {
	switch {
	case b.Attributes&AttrCompression != 0:
		return 0, Header{}, fmt.Errorf("encode batch: attributes %#x set compression bits: %w", b.Attributes, errInvalid)
	case !b.Codec.valid():
		return 0, Header{}, fmt.Errorf("encode batch: codec %v: %w", b.Codec, errInvalid)
	case int64(len(b.Records)) > math.MaxInt32:
		return 0, Header{}, fmt.Errorf("encode batch: %d records: %w", len(b.Records), ErrTooLarge)
	case b.LastOffsetDelta < 0:
		return 0, Header{}, fmt.Errorf("encode batch: last offset delta %d: %w", b.LastOffsetDelta, errInvalid)
	}
	codec := b.Codec
	if len(b.Records) == 0 {
		codec = CodecNone
	}
	h := Header{
		BaseOffset:           b.BaseOffset,
		PartitionLeaderEpoch: b.PartitionLeaderEpoch,
		Magic:                Magic,
		Attributes:           b.Attributes | int16(codec),
		FirstTimestamp:       -1,
		MaxTimestamp:         -1,
		ProducerID:           b.ProducerID,
		ProducerEpoch:        b.ProducerEpoch,
		BaseSequence:         b.BaseSequence,
		NumRecords:           int32(len(b.Records)),
	}
	for i, r := range b.Records {
		if i == 0 {
			h.FirstTimestamp, h.MaxTimestamp = r.Timestamp, r.Timestamp
		}
		h.MaxTimestamp = max(h.MaxTimestamp, r.Timestamp)
	}
	if h.DeleteHorizon() {
		h.FirstTimestamp = b.FirstTimestamp
	}
	if h.LogAppendTime() {
		h.MaxTimestamp = b.MaxTimestamp
	}
	return codec, h, nil
}

// appendRecords appends the uncompressed records section to dst and returns
// the last offset delta.
func (b Batch) appendRecords(dst []byte, firstTimestamp int64) ([]byte, int32, error) {
	var (
		body []byte
		last int64 = -1
	)
	for i, r := range b.Records {
		delta := int64(i)
		if b.KeepOffsets {
			delta = r.Offset - b.BaseOffset
		}
		if delta <= last || delta > math.MaxInt32 {
			return nil, 0, fmt.Errorf("encode batch: record %d: offset delta %d after %d: %w", i, delta, last, errInvalid)
		}
		last = delta
		var err error
		if body, err = appendRecordBody(body[:0], r, r.Timestamp-firstTimestamp, int32(delta)); err != nil {
			return nil, 0, fmt.Errorf("encode batch: record %d: %w", i, err)
		}
		dst = binary.AppendVarint(dst, int64(len(body)))
		dst = append(dst, body...)
	}
	return dst, int32(max(last, 0)), nil
}

// appendRecordBody appends the fields of a record after its length.
func appendRecordBody(dst []byte, r Record, tsDelta int64, offDelta int32) ([]byte, error) {
	dst = append(dst, 0) // record attributes: unused
	dst = binary.AppendVarint(dst, tsDelta)
	dst = binary.AppendVarint(dst, int64(offDelta))
	dst = appendBytes(dst, r.Key)
	dst = appendBytes(dst, r.Value)
	dst = binary.AppendVarint(dst, int64(len(r.Headers)))
	for _, h := range r.Headers {
		dst = appendBytes(dst, []byte(h.Key))
		dst = appendBytes(dst, h.Value)
	}
	if int64(len(dst)) > math.MaxInt32 {
		return nil, fmt.Errorf("record of %d bytes: %w", len(dst), ErrTooLarge)
	}
	return dst, nil
}

// appendBytes appends a varint length (-1 for nil) and b.
func appendBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	return append(binary.AppendVarint(dst, int64(len(b))), b...)
}

// putHeader writes h into the first HeaderSize bytes of b.
func putHeader(b []byte, h Header) {
	be := binary.BigEndian
	be.PutUint64(b[posBaseOffset:], uint64(h.BaseOffset))
	be.PutUint32(b[posLength:], uint32(h.Length))
	be.PutUint32(b[posLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	b[posMagic] = byte(h.Magic)
	be.PutUint32(b[posCRC:], h.CRC)
	be.PutUint16(b[posAttributes:], uint16(h.Attributes))
	be.PutUint32(b[posLastDelta:], uint32(h.LastOffsetDelta))
	be.PutUint64(b[posFirstTime:], uint64(h.FirstTimestamp))
	be.PutUint64(b[posMaxTime:], uint64(h.MaxTimestamp))
	be.PutUint64(b[posProducerID:], uint64(h.ProducerID))
	be.PutUint16(b[posProducerEpoch:], uint16(h.ProducerEpoch))
	be.PutUint32(b[posBaseSequence:], uint32(h.BaseSequence))
	be.PutUint32(b[posNumRecords:], uint32(h.NumRecords))
}
