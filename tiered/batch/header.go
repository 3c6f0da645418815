package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// Sentinel errors. Every error the package returns wraps one of them, so callers
// classify with errors.Is.
var (
	// ErrTruncated means the input ends inside a batch: more bytes are
	// needed. A fetch response may legitimately end with a partial batch;
	// stored data never does.
	ErrTruncated = errors.New("batch: truncated batch")
	// ErrUnsupportedMagic means the batch is not a RecordBatch v2 (magic 2):
	// the v0 and v1 message sets predate Kafka 0.11 and are not supported.
	ErrUnsupportedMagic = errors.New("batch: unsupported magic")
	// ErrCorrupt marks corruption: a CRC mismatch or a field no valid batch
	// can hold. It is never worth retrying.
	ErrCorrupt = errors.New("batch: corrupt batch")
	// ErrTooLarge means decoding would exceed the caller's size limit, or an
	// encoded batch would not fit the format's 32-bit length.
	ErrTooLarge = errors.New("batch: batch too large")
)

// HeaderSize is the size of the RecordBatch v2 header, up to the first record.
const HeaderSize = 61

// Magic is the only RecordBatch magic this package reads and writes.
const Magic = 2

// Byte positions of the header fields (see the package doc).
const (
	posBaseOffset    = 0
	posLength        = 8
	posLeaderEpoch   = 12
	posMagic         = 16
	posCRC           = 17
	posAttributes    = 21 // the CRC covers everything from here on
	posLastDelta     = 23
	posFirstTime     = 27
	posMaxTime       = 35
	posProducerID    = 43
	posProducerEpoch = 51
	posBaseSequence  = 53
	posNumRecords    = 57

	// lengthOverhead is what precedes the bytes counted by Length.
	lengthOverhead = posLeaderEpoch
	// minLength is the Length of a batch with no records.
	minLength = HeaderSize - lengthOverhead
	// minRecordSize is the smallest encoded record: one byte each for
	// length, attributes, timestamp delta, offset delta, key length, value
	// length and header count.
	minRecordSize = 7
)

// Attribute bits of Header.Attributes.
const (
	// AttrCompression masks the compression codec (a Codec).
	AttrCompression int16 = 0x07
	// AttrLogAppendTime means the broker set MaxTimestamp on append and it
	// is the timestamp of every record (topic config
	// message.timestamp.type=LogAppendTime).
	AttrLogAppendTime int16 = 0x08
	// AttrTransactional marks a batch written inside a transaction.
	AttrTransactional int16 = 0x10
	// AttrControl marks a control batch (a transaction commit or abort
	// marker), whose one record is not user data.
	AttrControl int16 = 0x20
	// AttrDeleteHorizon means FirstTimestamp holds the delete horizon set
	// by compaction (KIP-534) rather than the first record's timestamp.
	AttrDeleteHorizon int16 = 0x40
)

// castagnoli is the CRC-32C table; it is built once and never written again.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is the decoded fixed-size header of a RecordBatch v2. The field names
// follow kmsg.RecordBatch; the Kafka protocol guide calls FirstTimestamp
// baseTimestamp and BaseSequence firstSequence.
type Header struct {
	// BaseOffset is the offset of the first record (the broker assigns it;
	// producers send 0).
	BaseOffset int64
	// Length counts the bytes after the Length field to the end of the batch.
	Length int32
	// PartitionLeaderEpoch is the leader epoch at the time of the append.
	PartitionLeaderEpoch int32
	// Magic is the format version, always 2 here.
	Magic int8
	// CRC is the CRC-32C of the batch from Attributes to the end.
	CRC uint32
	// Attributes holds the Attr* bits.
	Attributes int16
	// LastOffsetDelta is the last offset of the batch minus BaseOffset. After
	// compaction it can be larger than the last remaining record's delta.
	LastOffsetDelta int32
	// FirstTimestamp is the first record's timestamp (or the delete horizon,
	// see AttrDeleteHorizon); record timestamps are deltas from it.
	FirstTimestamp int64
	// MaxTimestamp is the largest record timestamp, or the append time when
	// LogAppendTime is set.
	MaxTimestamp int64
	// ProducerID is the idempotent producer's id, or -1.
	ProducerID int64
	// ProducerEpoch is the producer's epoch, or -1.
	ProducerEpoch int16
	// BaseSequence is the sequence number of the first record, or -1.
	BaseSequence int32
	// NumRecords is the number of records in the batch.
	NumRecords int32
}

// Size is the size of the whole batch in bytes. It is only meaningful for a
// header ReadHeader accepted.
func (h Header) Size() int { return lengthOverhead + int(h.Length) }

// LastOffset is the offset of the last record the batch covers.
func (h Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Compression is the codec of the records section.
func (h Header) Compression() Codec { return Codec(h.Attributes & AttrCompression) }

// LogAppendTime reports whether MaxTimestamp is the broker's append time and
// stands for every record's timestamp.
func (h Header) LogAppendTime() bool { return h.Attributes&AttrLogAppendTime != 0 }

// Transactional reports whether the batch was written inside a transaction.
func (h Header) Transactional() bool { return h.Attributes&AttrTransactional != 0 }

// Control reports whether the batch is a control batch (a transaction marker).
func (h Header) Control() bool { return h.Attributes&AttrControl != 0 }

// DeleteHorizon reports whether FirstTimestamp holds a compaction delete
// horizon (KIP-534).
func (h Header) DeleteHorizon() bool { return h.Attributes&AttrDeleteHorizon != 0 }

// Idempotent reports whether the batch comes from an idempotent producer.
func (h Header) Idempotent() bool { return h.ProducerID >= 0 }

// LastSequence is the sequence number of the last record. Sequences wrap from
// MaxInt32 to 0, as in Kafka's DefaultRecordBatch.incrementSequence; a batch
// without a producer (BaseSequence -1) returns -1.
func (h Header) LastSequence() int32 {
	if h.BaseSequence < 0 {
		return h.BaseSequence
	}
	// Widen to avoid overflow, then wrap as Java's incrementSequence does.
	s := int64(h.BaseSequence) + int64(h.LastOffsetDelta)
	if s > math.MaxInt32 {
		s -= math.MaxInt32 + 1
	}
	return int32(s)
}

// ReadHeader decodes the header of the batch at the start of b. It checks only
// what framing needs: that b holds the whole batch (ErrTruncated), that it is
// a v2 batch (ErrUnsupportedMagic), and that Length covers at least the header
// (ErrCorrupt). Bytes after the batch are ignored. It never panics.
func ReadHeader(b []byte) (Header, error) {
	if len(b) <= posMagic {
		return Header{}, fmt.Errorf("read header of %d bytes: %w", len(b), ErrTruncated)
	}
	// Check magic before the full header length: a v0/v1 message can be
	// shorter than a v2 header, and "unsupported" is the better answer.
	if m := int8(b[posMagic]); m != Magic {
		return Header{}, fmt.Errorf("read header: magic %d: %w", m, ErrUnsupportedMagic)
	}
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("read header of %d bytes: %w", len(b), ErrTruncated)
	}
	h := decodeHeader(b)
	if h.Length < minLength {
		return h, fmt.Errorf("read header: length %d below %d: %w", h.Length, minLength, ErrCorrupt)
	}
	if int64(h.Length)+lengthOverhead > int64(len(b)) {
		return h, fmt.Errorf("read header: batch of %d bytes, have %d: %w",
			int64(h.Length)+lengthOverhead, len(b), ErrTruncated)
	}
	return h, nil
}

func decodeHeader(b []byte) Header {
	be := binary.BigEndian
	return Header{
		BaseOffset:           int64(be.Uint64(b[posBaseOffset:])),
		Length:               int32(be.Uint32(b[posLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[posLeaderEpoch:])),
		Magic:                int8(b[posMagic]),
		CRC:                  be.Uint32(b[posCRC:]),
		Attributes:           int16(be.Uint16(b[posAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[posLastDelta:])),
		FirstTimestamp:       int64(be.Uint64(b[posFirstTime:])),
		MaxTimestamp:         int64(be.Uint64(b[posMaxTime:])),
		ProducerID:           int64(be.Uint64(b[posProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[posProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[posBaseSequence:])),
		NumRecords:           int32(be.Uint32(b[posNumRecords:])),
	}
}

// Check validates the fields of a header that ReadHeader accepted, without
// looking at the records. It returns an error wrapping ErrCorrupt when:
//   - BaseOffset is negative, or LastOffset overflows int64;
//   - LastOffsetDelta or NumRecords is negative;
//   - NumRecords exceeds LastOffsetDelta+1 (records have distinct offsets
//     within the batch; compaction may leave fewer, never more);
//   - the codec is not one of the five Kafka defines;
//   - an uncompressed batch claims more records than its bytes can hold.
//
// Check does not compare NumRecords with LastOffsetDelta+1 for equality:
// compacted batches keep their original LastOffsetDelta with fewer records.
func (h Header) Check() error {
	switch {
	case h.BaseOffset < 0:
		return fmt.Errorf("check header: base offset %d: %w", h.BaseOffset, ErrCorrupt)
	case h.LastOffsetDelta < 0:
		return fmt.Errorf("check header: last offset delta %d: %w", h.LastOffsetDelta, ErrCorrupt)
	case h.BaseOffset > math.MaxInt64-int64(h.LastOffsetDelta):
		return fmt.Errorf("check header: last offset overflows: %w", ErrCorrupt)
	case h.NumRecords < 0:
		return fmt.Errorf("check header: record count %d: %w", h.NumRecords, ErrCorrupt)
	case int64(h.NumRecords) > int64(h.LastOffsetDelta)+1:
		return fmt.Errorf("check header: %d records for %d offsets: %w",
			h.NumRecords, int64(h.LastOffsetDelta)+1, ErrCorrupt)
	case !h.Compression().valid():
		return fmt.Errorf("check header: codec %d: %w", h.Compression(), ErrCorrupt)
	case h.Compression() == CodecNone &&
		int64(h.NumRecords)*minRecordSize > int64(h.Length)-minLength:
		return fmt.Errorf("check header: %d records cannot fit in %d bytes: %w",
			h.NumRecords, int64(h.Length)-minLength, ErrCorrupt)
	}
	return nil
}

// Verify reads and validates the batch at the start of b: ReadHeader, then
// Header.Check, then the CRC-32C. Bytes after the batch are ignored. A CRC
// mismatch or an impossible field wraps ErrCorrupt. Verify does not decode the
// records: EachRecord does, and reports malformed records as ErrCorrupt.
func Verify(b []byte) (Header, error) {
	h, err := ReadHeader(b)
	if err != nil {
		return h, err
	}
	if err := h.Check(); err != nil {
		return h, err
	}
	if sum := crc32.Checksum(b[posAttributes:h.Size()], castagnoli); sum != h.CRC {
		return h, fmt.Errorf("verify batch at offset %d: crc %08x, want %08x: %w",
			h.BaseOffset, sum, h.CRC, ErrCorrupt)
	}
	return h, nil
}

// Each calls fn for every batch in b, a concatenation of whole batches (the
// records field of a produce request, a segment block), in order. batch is
// the batch's bytes, aliasing b, and h its header. It stops at and returns the
// first error fn returns, unwrapped. A trailing partial batch, or a partial
// header, returns an error wrapping ErrTruncated after fn has seen the whole
// batches before it.
//
// Each reads headers only (ReadHeader): it does not check the CRC or the
// fields, so a caller that needs them calls Verify on each batch.
func Each(b []byte, fn func(batch []byte, h Header) error) error {
	for pos := 0; pos < len(b); {
		h, err := ReadHeader(b[pos:])
		if err != nil {
			return fmt.Errorf("batch at byte %d: %w", pos, err)
		}
		end := pos + h.Size()
		if err := fn(b[pos:end:end], h); err != nil {
			return err
		}
		pos = end
	}
	return nil
}

// SetBaseOffset rewrites the base offset of the batch at the start of b in
// place. The CRC does not cover it, so the batch stays valid. b must hold at
// least HeaderSize bytes (it panics otherwise: call ReadHeader first).
func SetBaseOffset(b []byte, off int64) {
	binary.BigEndian.PutUint64(b[posBaseOffset:HeaderSize], uint64(off))
}

// SetPartitionLeaderEpoch rewrites the partition leader epoch of the batch at
// the start of b in place. The CRC does not cover it, so the batch stays valid.
// b must hold at least HeaderSize bytes (it panics otherwise).
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[posLeaderEpoch:HeaderSize], uint32(epoch))
}
