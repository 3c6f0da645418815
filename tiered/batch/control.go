package batch

import (
	"encoding/binary"
	"fmt"
)

// Transaction markers are control batches (AttrControl and
// AttrTransactional, uncompressed) of one record, written by the
// transaction coordinator through the partition's leader: Kafka's
// EndTransactionMarker. The record's key is the control record key
// (version int16 0, type int16: 0 abort, 1 commit) and its value the
// marker (version int16 0, coordinator epoch int32).

// ControlType is a control record's type.
type ControlType int16

// The control record types Kafka defines that Strata writes.
const (
	ControlAbort  ControlType = 0
	ControlCommit ControlType = 1
)

// Marker describes one transaction marker for EncodeMarker.
type Marker struct {
	ProducerID    int64
	ProducerEpoch int16
	Commit        bool
	// CoordinatorEpoch is the transaction coordinator's epoch, carried in
	// the marker as Kafka does.
	CoordinatorEpoch int32
	// Timestamp is the marker record's timestamp (Unix ms).
	Timestamp int64
}

// EncodeMarker returns the control batch for m, at base offset 0.
func EncodeMarker(m Marker) []byte {
	typ := ControlAbort
	if m.Commit {
		typ = ControlCommit
	}
	key := binary.BigEndian.AppendUint16([]byte{0, 0}, uint16(typ))
	value := binary.BigEndian.AppendUint32([]byte{0, 0}, uint32(m.CoordinatorEpoch))
	b, err := Encode(Batch{
		Attributes:    AttrControl | AttrTransactional,
		ProducerID:    m.ProducerID,
		ProducerEpoch: m.ProducerEpoch,
		BaseSequence:  -1,
		Records:       []Record{{Timestamp: m.Timestamp, Key: key, Value: value}},
	})
	if err != nil {
		panic(fmt.Sprintf("batch: encode marker: %v", err)) // a fixed, valid description
	}
	return b
}

// MarkerType returns the type of the control batch at the start of b: the
// key of its first record. Errors wrap ErrCorrupt for a batch that is not a
// control batch with a control record key.
func MarkerType(b []byte) (ControlType, error) {
	h, err := ReadHeader(b)
	if err != nil {
		return 0, err
	}
	if !h.Control() {
		return 0, fmt.Errorf("batch at offset %d is not a control batch: %w", h.BaseOffset, ErrCorrupt)
	}
	var typ ControlType
	found := false
	// Markers are tiny and uncompressed; the limit only bounds a hostile one.
	err = EachRecord(b, 1<<10, func(r Record) error {
		if found {
			return nil
		}
		if len(r.Key) < 4 {
			return fmt.Errorf("control record key of %d bytes: %w", len(r.Key), ErrCorrupt)
		}
		typ, found = ControlType(binary.BigEndian.Uint16(r.Key[2:4])), true
		return nil
	})
	switch {
	case err != nil:
		return 0, err
	case !found:
		return 0, fmt.Errorf("control batch at offset %d has no record: %w", h.BaseOffset, ErrCorrupt)
	}
	return typ, nil
}
