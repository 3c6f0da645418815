package coordinator

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/segment"
)

// The compact encoding of a run of one partition's index entries, as head
// records (from version 2) and chunk records (from version 2) store them.
// Every flush rewrites the head, so its size is what a commit costs: as
// JSON an entry took about 250 bytes (its object key, a topic id spelled as
// sixteen numbers, and field names), here about 42 (TestEntriesRoundTrip).
//
//	count        uvarint
//	per entry:
//	  object     uvarint bytes shared with the previous entry's object key,
//	             uvarint length of the rest, the rest
//	  base       varint: the first entry's base offset; then the gap after
//	             the previous entry's last offset (0 when contiguous)
//	  span       varint last offset − base offset
//	  timestamp  varint: the first entry's max timestamp; then the change
//	             from the previous entry's
//	  position, length, records   varint each
//	  flags      uvarint (from version 3): bit 0 set when the entry covers
//	             a whole per-partition segment (segment.IndexEntry.Whole)
//
// Topic id and partition are not stored: they are the record's own. Version
// 2 records lack the flags.

// minEncodedEntry is the fewest bytes an entry takes: two lengths and six
// varints of one byte each (and the flags from version 3). It bounds the
// count a decoder believes.
const minEncodedEntry = 8

// entryWhole is the flag bit for segment.IndexEntry.Whole.
const entryWhole = 1

var errEntriesTruncated = errors.New("entries truncated")

// appendEntries appends the compact encoding of entries to dst.
func appendEntries(dst []byte, entries []segment.IndexEntry) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(entries)))
	var prev segment.IndexEntry
	for i := range entries {
		e := &entries[i]
		shared := 0
		if i > 0 {
			shared = commonPrefix(prev.Object, e.Object)
		}
		dst = binary.AppendUvarint(dst, uint64(shared))
		dst = binary.AppendUvarint(dst, uint64(len(e.Object)-shared))
		dst = append(dst, e.Object[shared:]...)
		if i == 0 {
			dst = binary.AppendVarint(dst, e.BaseOffset)
			dst = binary.AppendVarint(dst, e.LastOffset-e.BaseOffset)
			dst = binary.AppendVarint(dst, e.MaxTimestamp)
		} else {
			dst = binary.AppendVarint(dst, e.BaseOffset-prev.LastOffset-1)
			dst = binary.AppendVarint(dst, e.LastOffset-e.BaseOffset)
			dst = binary.AppendVarint(dst, e.MaxTimestamp-prev.MaxTimestamp)
		}
		dst = binary.AppendVarint(dst, e.Position)
		dst = binary.AppendVarint(dst, e.Length)
		dst = binary.AppendVarint(dst, e.Records)
		var flags uint64
		if e.Whole {
			flags |= entryWhole
		}
		dst = binary.AppendUvarint(dst, flags)
		prev = *e
	}
	return dst
}

// decodeEntries decodes what appendEntries wrote, giving every entry tp's
// topic id and partition. It never trusts a length it has not seen the bytes
// for.
func decodeEntries(tp index.TopicPartition, b []byte) ([]segment.IndexEntry, error) {
	return decodeEntriesVersion(tp, b, 3)
}

// decodeEntriesVersion decodes entries as a record of version wrote them: 2
// without flags, 3 with.
func decodeEntriesVersion(tp index.TopicPartition, b []byte, version int) ([]segment.IndexEntry, error) {
	d := entryDecoder{b: b}
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b))/minEncodedEntry {
		return nil, fmt.Errorf("%d entries in %d bytes: %w", n, len(b), errEntriesTruncated)
	}
	if d.err != nil || n == 0 {
		return nil, d.err
	}
	entries := make([]segment.IndexEntry, n)
	var prev segment.IndexEntry
	for i := range entries {
		e := &entries[i]
		shared, rest := d.uvarint(), d.uvarint()
		if d.err != nil {
			return nil, d.err
		}
		if shared > uint64(len(prev.Object)) || rest > uint64(len(d.b)) {
			return nil, fmt.Errorf("entry %d: object key of %d+%d bytes: %w", i, shared, rest, errEntriesTruncated)
		}
		e.Object = prev.Object[:shared] + string(d.b[:rest])
		d.b = d.b[rest:]
		e.TopicID, e.Partition = tp.TopicID, tp.Partition
		base, span, ts := d.varint(), d.varint(), d.varint()
		if i == 0 {
			e.BaseOffset, e.MaxTimestamp = base, ts
		} else {
			e.BaseOffset, e.MaxTimestamp = prev.LastOffset+1+base, prev.MaxTimestamp+ts
		}
		e.LastOffset = e.BaseOffset + span
		e.Position, e.Length, e.Records = d.varint(), d.varint(), d.varint()
		if version >= 3 {
			flags := d.uvarint()
			if flags&^entryWhole != 0 {
				return nil, fmt.Errorf("entry %d: unknown flags %#x: %w", i, flags, errEntriesTruncated)
			}
			e.Whole = flags&entryWhole != 0
		}
		if d.err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, d.err)
		}
		prev = *e
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%d bytes after %d entries", len(d.b), n)
	}
	return entries, nil
}

type entryDecoder struct {
	b   []byte
	err error
}

func (d *entryDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errEntriesTruncated
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *entryDecoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errEntriesTruncated
		return 0
	}
	d.b = d.b[n:]
	return v
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
