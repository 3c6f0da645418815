package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Record is what one WAL message carries: whole RecordBatch v2 batches with
// their offsets assigned, written by one leader epoch.
type Record struct {
	// Epoch is the leader epoch of the writer.
	Epoch int32
	// BaseOffset is the first offset in Data, LastOffset the last.
	BaseOffset int64
	LastOffset int64
	// Data is one or more RecordBatch v2 batches, in offset order.
	Data []byte
}

// Message layout, big-endian:
//
//	version    1 byte (recordVersion)
//	crc        4 bytes, CRC32C (Castagnoli) of everything after it
//	epoch      4 bytes
//	baseOffset 8 bytes
//	lastOffset 8 bytes
//	data       the rest
const (
	recordVersion = 1
	// HeaderBytes is the record header's size: a message carries at most
	// the server's max payload less this of batch data.
	HeaderBytes = 1 + 4 + 4 + 8 + 8
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendRecord appends r's encoding to dst.
func appendRecord(dst []byte, r Record) []byte {
	start := len(dst)
	dst = append(dst, recordVersion, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(r.Epoch))
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.BaseOffset))
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.LastOffset))
	dst = append(dst, r.Data...)
	binary.BigEndian.PutUint32(dst[start+1:], crc32.Checksum(dst[start+5:], castagnoli))
	return dst
}

// parseRecord decodes a message body. Data aliases b.
func parseRecord(b []byte) (Record, error) {
	if len(b) < HeaderBytes {
		return Record{}, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrCorrupt, len(b), HeaderBytes)
	}
	if b[0] != recordVersion {
		return Record{}, fmt.Errorf("%w: record version %d, want %d", ErrCorrupt, b[0], recordVersion)
	}
	if want, got := binary.BigEndian.Uint32(b[1:]), crc32.Checksum(b[5:], castagnoli); want != got {
		return Record{}, fmt.Errorf("%w: crc32c %08x, stored %08x", ErrCorrupt, got, want)
	}
	r := Record{
		Epoch:      int32(binary.BigEndian.Uint32(b[5:])),
		BaseOffset: int64(binary.BigEndian.Uint64(b[9:])),
		LastOffset: int64(binary.BigEndian.Uint64(b[17:])),
		Data:       b[HeaderBytes:],
	}
	if r.LastOffset < r.BaseOffset || r.BaseOffset < 0 {
		return Record{}, fmt.Errorf("%w: offsets [%d, %d]", ErrCorrupt, r.BaseOffset, r.LastOffset)
	}
	return r, nil
}
