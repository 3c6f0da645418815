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
	// Batches, on an append, stands for Data when set: the record's data
	// is their concatenation, copied into the message without being joined
	// first (a second copy of every byte a producer sends). Records read
	// back have Data only.
	Batches [][]byte
}

// DataLen is the length of r's data.
func (r Record) DataLen() int {
	if r.Batches == nil {
		return len(r.Data)
	}
	n := 0
	for _, b := range r.Batches {
		n += len(b)
	}
	return n
}

// appendData appends r's data to dst.
func appendData(dst []byte, r Record) []byte {
	if r.Batches == nil {
		return append(dst, r.Data...)
	}
	for _, b := range r.Batches {
		dst = append(dst, b...)
	}
	return dst
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
	dst = appendData(dst, r)
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

// Chain messages (chain.go) carry the records of many partitions, or the
// fences other writers set on the chain. Layout, big-endian:
//
//	version  1 byte: chainVersion, or chainVersionV2
//	crc      4 bytes, CRC32C (Castagnoli) of everything after it
//	kind     1 byte: chainRecords or chainFences
//	count    4 bytes, the number of entries
//	entries  count times:
//	  topic id   16 bytes
//	  partition  4 bytes
//	  epoch      4 bytes: the writer's leader epoch, or the fence's
//	  records only:
//	    baseOffset 8 bytes
//	    lastOffset 8 bytes
//	    length     4 bytes, then that many bytes of RecordBatch v2 batches
//
// The version byte tells a chain message from a partition subject's Record
// (recordVersion), so a reader can tell which format it holds whatever the
// subject. Records are version 3, written by writers fenced on their chain's
// fence subject; version 2 records come from writers of the release before,
// fenced on the chain itself, which read version 2 only. Fences stay
// version 2, so that both read them.
const (
	chainVersion   = 3
	chainVersionV2 = 2

	chainRecords = 0
	chainFences  = 1

	chainHeaderBytes = 1 + 4 + 1 + 4
	fenceEntryBytes  = 16 + 4 + 4
	recordEntryBytes = fenceEntryBytes + 8 + 8 + 4
)

// Entry is one partition's part of a chain message: a record, or a fence at
// Record.Epoch (no offsets, no data).
type Entry struct {
	Partition Partition
	Record    Record
}

// appendChainHeader starts a chain message of kind with count entries in
// dst; finishChain seals it once the entries are appended.
func appendChainHeader(dst []byte, kind byte, count int) []byte {
	version := byte(chainVersion)
	if kind == chainFences {
		version = chainVersionV2
	}
	dst = append(dst, version, 0, 0, 0, 0, kind)
	return binary.BigEndian.AppendUint32(dst, uint32(count))
}

// appendEntry appends e's encoding for a message of kind to dst.
func appendEntry(dst []byte, kind byte, e Entry) []byte {
	dst = append(dst, e.Partition.TopicID[:]...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(e.Partition.Partition))
	dst = binary.BigEndian.AppendUint32(dst, uint32(e.Record.Epoch))
	if kind == chainFences {
		return dst
	}
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.Record.BaseOffset))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.Record.LastOffset))
	dst = binary.BigEndian.AppendUint32(dst, uint32(e.Record.DataLen()))
	return appendData(dst, e.Record)
}

// finishChain writes the checksum of the chain message that starts at
// msg[0].
func finishChain(msg []byte) {
	binary.BigEndian.PutUint32(msg[1:], crc32.Checksum(msg[5:], castagnoli))
}

// encodeChain is one chain message of kind holding entries.
func encodeChain(kind byte, entries []Entry) []byte {
	msg := appendChainHeader(nil, kind, len(entries))
	for _, e := range entries {
		msg = appendEntry(msg, kind, e)
	}
	finishChain(msg)
	return msg
}

// parseChain decodes a chain message: its kind and entries, whose data
// aliases b. Anything malformed is ErrCorrupt.
func parseChain(b []byte) (kind byte, entries []Entry, err error) {
	if len(b) < chainHeaderBytes {
		return 0, nil, fmt.Errorf("%w: %d bytes, shorter than the %d-byte chain header", ErrCorrupt, len(b), chainHeaderBytes)
	}
	if b[0] != chainVersion && b[0] != chainVersionV2 {
		return 0, nil, fmt.Errorf("%w: chain message version %d, want %d or %d", ErrCorrupt, b[0], chainVersionV2, chainVersion)
	}
	if want, got := binary.BigEndian.Uint32(b[1:]), crc32.Checksum(b[5:], castagnoli); want != got {
		return 0, nil, fmt.Errorf("%w: crc32c %08x, stored %08x", ErrCorrupt, got, want)
	}
	kind = b[5]
	entrySize := recordEntryBytes
	switch kind {
	case chainRecords:
	case chainFences:
		entrySize = fenceEntryBytes
	default:
		return 0, nil, fmt.Errorf("%w: chain message kind %d", ErrCorrupt, kind)
	}
	count := binary.BigEndian.Uint32(b[6:])
	rest := b[chainHeaderBytes:]
	// Every entry takes at least entrySize bytes: a count the message
	// cannot hold is refused before anything is allocated for it.
	if uint64(count)*uint64(entrySize) > uint64(len(rest)) {
		return 0, nil, fmt.Errorf("%w: %d entries in %d bytes", ErrCorrupt, count, len(rest))
	}
	entries = make([]Entry, 0, count)
	for range count {
		if len(rest) < entrySize {
			return 0, nil, fmt.Errorf("%w: entry cut short", ErrCorrupt)
		}
		var e Entry
		copy(e.Partition.TopicID[:], rest)
		e.Partition.Partition = int32(binary.BigEndian.Uint32(rest[16:]))
		e.Record.Epoch = int32(binary.BigEndian.Uint32(rest[20:]))
		if kind == chainRecords {
			e.Record.BaseOffset = int64(binary.BigEndian.Uint64(rest[24:]))
			e.Record.LastOffset = int64(binary.BigEndian.Uint64(rest[32:]))
			n := binary.BigEndian.Uint32(rest[40:])
			if uint64(n) > uint64(len(rest)-entrySize) {
				return 0, nil, fmt.Errorf("%w: entry of %d bytes, %d left", ErrCorrupt, n, len(rest)-entrySize)
			}
			e.Record.Data = rest[entrySize : entrySize+int(n) : entrySize+int(n)]
			if e.Record.LastOffset < e.Record.BaseOffset || e.Record.BaseOffset < 0 {
				return 0, nil, fmt.Errorf("%w: offsets [%d, %d]", ErrCorrupt, e.Record.BaseOffset, e.Record.LastOffset)
			}
			rest = rest[entrySize+int(n):]
		} else {
			rest = rest[entrySize:]
		}
		entries = append(entries, e)
	}
	if len(rest) != 0 {
		return 0, nil, fmt.Errorf("%w: %d bytes after the last entry", ErrCorrupt, len(rest))
	}
	return kind, entries, nil
}
