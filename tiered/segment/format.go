package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"strconv"

	"github.com/stratalog/strata/tiered/batch"
)

// Sentinel errors.
var (
	// ErrCorrupt marks a segment that is not what the format allows: bad
	// magic, a footer CRC mismatch, an entry out of bounds or out of order,
	// a truncated object, a block that does not match its entry. It is
	// never worth retrying.
	ErrCorrupt = errors.New("segment: corrupt segment")
	// ErrUnsupportedVersion means the segment was written in a format
	// version (or with format flags) this reader does not know: a newer
	// writer wrote it. It is not corruption.
	ErrUnsupportedVersion = errors.New("segment: unsupported format version")
	// ErrOutOfOrder is returned by Writer.Add for a batch whose base offset
	// is not above the last offset already written for its partition.
	ErrOutOfOrder = errors.New("segment: batch offsets out of order")
	// ErrTooManyBlocks is returned by Writer.Add when the footer would
	// exceed MaxFooterLength.
	ErrTooManyBlocks = errors.New("segment: too many blocks")
	// ErrClosed is returned by a Writer after Close.
	ErrClosed = errors.New("segment: writer closed")
)

// Version is the segment format version, stored in the trailer.
type Version uint16

const (
	// V1 is the first version: blocks of RecordBatch v2 batches, a footer
	// of EntrySize-byte entries, a TrailerSize-byte trailer whose CRC-32C
	// covers the footer. Version 0 is invalid.
	V1 Version = 1

	// CurrentVersion is the version Writer writes and the newest that
	// ReadIndex reads.
	CurrentVersion = V1
)

// String returns "v1" and so on.
func (v Version) String() string { return "v" + strconv.Itoa(int(v)) }

// Sizes and limits of the format (see the package doc).
const (
	// Magic ends every segment object.
	Magic = "STRATSEG"
	// TrailerSize is the size of the trailer at the end of the object.
	TrailerSize = 24
	// EntrySize is the size of one footer entry.
	EntrySize = 60
	// footerHeaderSize is the entry count before the entries.
	footerHeaderSize = 4
	// MaxFooterLength bounds the footer so that a corrupt length cannot make
	// a reader allocate gigabytes. It allows about 1.1 million blocks: with
	// 1 MiB blocks, an object of a TiB.
	MaxFooterLength = 64 << 20
	// MaxEntries is how many blocks a footer of MaxFooterLength holds.
	MaxEntries = (MaxFooterLength - footerHeaderSize) / EntrySize
)

// Byte positions in the trailer and in an entry.
const (
	trFooterLength = 0
	trFooterCRC    = 4
	trVersion      = 8 // the CRC covers the trailer from here on
	trFlags        = 10
	trReserved     = 12
	trMagic        = 16

	enTopicID      = 0
	enPartition    = 16
	enBaseOffset   = 20
	enLastOffset   = 28
	enMaxTimestamp = 36
	enPosition     = 44
	enLength       = 52
	enRecords      = 56
)

// castagnoli is the CRC-32C table; it is built once and never written again.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Trailer is the decoded trailer of a segment.
type Trailer struct {
	// FooterLength is the size of the footer, which ends where the trailer
	// starts.
	FooterLength uint32
	// FooterCRC is the CRC-32C of the footer followed by the trailer's
	// bytes from the version on.
	FooterCRC uint32
	// Version is the format version.
	Version Version
	// Flags are format feature flags; V1 defines none.
	Flags uint16
}

// IndexSize is how many bytes at the end of the object hold the footer and
// the trailer: the suffix a reader fetches to learn the index.
func (t Trailer) IndexSize() int64 { return int64(t.FooterLength) + TrailerSize }

// appendTo appends the encoded trailer to b.
func (t Trailer) appendTo(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, t.FooterLength)
	b = binary.BigEndian.AppendUint32(b, t.FooterCRC)
	return t.appendCRCed(b)
}

// appendCRCed appends the part of the trailer the footer CRC covers.
func (t Trailer) appendCRCed(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(t.Version))
	b = binary.BigEndian.AppendUint16(b, t.Flags)
	b = append(b, 0, 0, 0, 0) // reserved
	return append(b, Magic...)
}

// footerCRC computes the CRC the trailer stores for footer.
func (t Trailer) footerCRC(footer []byte) uint32 {
	var tail [TrailerSize - trVersion]byte
	return crc32.Update(crc32.Checksum(footer, castagnoli), castagnoli, t.appendCRCed(tail[:0]))
}

// DecodeTrailer decodes the trailer in the last TrailerSize bytes of tail, so
// that tail may be any suffix of the object at least that long. It returns an
// error wrapping ErrCorrupt for a short tail, a wrong magic, non-zero reserved
// bytes or an impossible footer length, and one wrapping
// ErrUnsupportedVersion for an unknown version or flag.
func DecodeTrailer(tail []byte) (Trailer, error) {
	if len(tail) < TrailerSize {
		return Trailer{}, fmt.Errorf("decode trailer: %d bytes: %w", len(tail), ErrCorrupt)
	}
	b := tail[len(tail)-TrailerSize:]
	// Magic and version sit at the same place in every version; check them
	// before anything a newer version may have changed.
	if !bytes.Equal(b[trMagic:], []byte(Magic)) {
		return Trailer{}, fmt.Errorf("decode trailer: magic %q: %w", b[trMagic:], ErrCorrupt)
	}
	be := binary.BigEndian
	t := Trailer{
		FooterLength: be.Uint32(b[trFooterLength:]),
		FooterCRC:    be.Uint32(b[trFooterCRC:]),
		Version:      Version(be.Uint16(b[trVersion:])),
		Flags:        be.Uint16(b[trFlags:]),
	}
	switch {
	case t.Version == 0:
		return t, fmt.Errorf("decode trailer: version 0: %w", ErrCorrupt)
	case t.Version > CurrentVersion:
		return t, fmt.Errorf("decode trailer: %v: %w", t.Version, ErrUnsupportedVersion)
	case t.Flags != 0:
		return t, fmt.Errorf("decode trailer: flags %#x: %w", t.Flags, ErrUnsupportedVersion)
	case be.Uint32(b[trReserved:]) != 0:
		return t, fmt.Errorf("decode trailer: reserved bytes set: %w", ErrCorrupt)
	case t.FooterLength < footerHeaderSize || t.FooterLength > MaxFooterLength ||
		(t.FooterLength-footerHeaderSize)%EntrySize != 0:
		return t, fmt.Errorf("decode trailer: footer length %d: %w", t.FooterLength, ErrCorrupt)
	}
	return t, nil
}

// DecodeFooter decodes footer, the t.FooterLength bytes before the trailer t
// of an object of size bytes, into index entries (with Object empty). It
// checks the CRC and that every entry is possible: inside the blocks region
// [0, size-t.IndexSize()), after the previous entry without overlap, at least
// one batch header long, with 0 <= BaseOffset <= LastOffset, no more records
// than offsets, and offsets above those of earlier blocks of the same
// partition. Any failure wraps ErrCorrupt. It allocates only in proportion to
// len(footer).
func DecodeFooter(footer []byte, t Trailer, size int64) ([]IndexEntry, error) {
	if int64(len(footer)) != int64(t.FooterLength) {
		return nil, fmt.Errorf("decode footer: %d bytes, trailer says %d: %w", len(footer), t.FooterLength, ErrCorrupt)
	}
	dataSize := size - t.IndexSize()
	if dataSize < 0 {
		return nil, fmt.Errorf("decode footer: object of %d bytes, index of %d: %w", size, t.IndexSize(), ErrCorrupt)
	}
	if sum := t.footerCRC(footer); sum != t.FooterCRC {
		return nil, fmt.Errorf("decode footer: crc %08x, want %08x: %w", sum, t.FooterCRC, ErrCorrupt)
	}
	n := binary.BigEndian.Uint32(footer)
	if int64(n)*EntrySize != int64(len(footer))-footerHeaderSize {
		return nil, fmt.Errorf("decode footer: %d entries in %d bytes: %w", n, len(footer), ErrCorrupt)
	}
	entries := make([]IndexEntry, n)
	v := validator{dataSize: dataSize, last: make(map[partitionKey]int64)}
	for i := range entries {
		entries[i] = decodeEntry(footer[footerHeaderSize+i*EntrySize:])
		if err := v.check(entries[i]); err != nil {
			return nil, fmt.Errorf("decode footer: entry %d: %w", i, err)
		}
	}
	return entries, nil
}

type partitionKey struct {
	topicID   [16]byte
	partition int32
}

// validator checks entries in footer order.
type validator struct {
	dataSize int64
	end      int64 // end of the previous block
	last     map[partitionKey]int64
}

func (v *validator) check(e IndexEntry) error {
	key := partitionKey{e.TopicID, e.Partition}
	last, seen := v.last[key]
	switch {
	case e.Position < v.end:
		return fmt.Errorf("block at %d overlaps or precedes the previous one ending at %d: %w", e.Position, v.end, ErrCorrupt)
	case e.Length < batch.HeaderSize || e.Length > v.dataSize-e.Position:
		return fmt.Errorf("block of %d bytes at %d, blocks end at %d: %w", e.Length, e.Position, v.dataSize, ErrCorrupt)
	case e.Partition < 0:
		return fmt.Errorf("partition %d: %w", e.Partition, ErrCorrupt)
	case e.BaseOffset < 0 || e.LastOffset < e.BaseOffset:
		return fmt.Errorf("offsets %d to %d: %w", e.BaseOffset, e.LastOffset, ErrCorrupt)
	case e.Records-1 > e.LastOffset-e.BaseOffset:
		return fmt.Errorf("%d records for offsets %d to %d: %w", e.Records, e.BaseOffset, e.LastOffset, ErrCorrupt)
	case seen && e.BaseOffset <= last:
		return fmt.Errorf("partition %d: block at offset %d after offset %d: %w", e.Partition, e.BaseOffset, last, ErrCorrupt)
	}
	v.end = e.Position + e.Length
	v.last[key] = e.LastOffset
	return nil
}

func decodeEntry(b []byte) IndexEntry {
	be := binary.BigEndian
	e := IndexEntry{
		Partition:    int32(be.Uint32(b[enPartition:])),
		BaseOffset:   int64(be.Uint64(b[enBaseOffset:])),
		LastOffset:   int64(be.Uint64(b[enLastOffset:])),
		MaxTimestamp: int64(be.Uint64(b[enMaxTimestamp:])),
		Length:       int64(be.Uint32(b[enLength:])),
		Records:      int64(be.Uint32(b[enRecords:])),
	}
	copy(e.TopicID[:], b[enTopicID:])
	// A position beyond MaxInt64 cannot be inside any object; map it to -1
	// so that the bounds check rejects it.
	if p := be.Uint64(b[enPosition:]); p <= math.MaxInt64 {
		e.Position = int64(p)
	} else {
		e.Position = -1
	}
	return e
}

func appendEntry(b []byte, e IndexEntry) []byte {
	be := binary.BigEndian
	b = append(b, e.TopicID[:]...)
	b = be.AppendUint32(b, uint32(e.Partition))
	b = be.AppendUint64(b, uint64(e.BaseOffset))
	b = be.AppendUint64(b, uint64(e.LastOffset))
	b = be.AppendUint64(b, uint64(e.MaxTimestamp))
	b = be.AppendUint64(b, uint64(e.Position))
	b = be.AppendUint32(b, uint32(e.Length))
	return be.AppendUint32(b, uint32(e.Records))
}

// encodeIndex returns the footer and trailer for entries.
func encodeIndex(entries []IndexEntry) []byte {
	footerLen := footerHeaderSize + len(entries)*EntrySize
	b := make([]byte, 0, footerLen+TrailerSize)
	b = binary.BigEndian.AppendUint32(b, uint32(len(entries)))
	for _, e := range entries {
		b = appendEntry(b, e)
	}
	t := Trailer{FooterLength: uint32(footerLen), Version: CurrentVersion}
	t.FooterCRC = t.footerCRC(b)
	return t.appendTo(b)
}
