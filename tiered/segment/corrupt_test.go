package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"testing"
)

func readGolden(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readIndex(b []byte) ([]IndexEntry, error) {
	return ReadIndex(bytes.NewReader(b), int64(len(b)))
}

func TestFlippedIndexBytes(t *testing.T) {
	golden := readGolden(t)
	footerStart := len(golden) - TrailerSize - footerHeaderSize - len(goldenEntries)*EntrySize
	for i := footerStart; i < len(golden); i++ {
		for _, bit := range []byte{0x01, 0x80} {
			b := bytes.Clone(golden)
			b[i] ^= bit
			_, err := readIndex(b)
			want := ErrCorrupt
			if pos := i - (len(golden) - TrailerSize); pos >= trVersion && pos < trReserved && !(pos == trVersion+1 && bit == 0x01) {
				// A version or flag from the future; version 0 (bit 0 of
				// the low byte) is corrupt.
				want = ErrUnsupportedVersion
			}
			if !errors.Is(err, want) {
				t.Fatalf("byte %d ^ %#x: ReadIndex: %v, want %v", i, bit, err, want)
			}
		}
	}
}

func TestTruncated(t *testing.T) {
	golden := readGolden(t)
	for n := range len(golden) {
		if _, err := readIndex(golden[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("first %d bytes: ReadIndex: %v, want ErrCorrupt", n, err)
		}
	}
	// The object is shorter than the size the caller was told.
	for _, n := range []int{len(golden) - 1, len(golden) - TrailerSize, 10} {
		if _, err := ReadIndex(bytes.NewReader(golden[:n]), int64(len(golden))); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%d of %d bytes: ReadIndex: %v, want ErrCorrupt", n, len(golden), err)
		}
	}
}

func TestWrongMagic(t *testing.T) {
	b := readGolden(t)
	copy(b[len(b)-8:], "STRATSEH")
	if _, err := readIndex(b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadIndex: %v, want ErrCorrupt", err)
	}
	if _, err := readIndex(bytes.Repeat([]byte{0}, 100)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("zeros: %v, want ErrCorrupt", err)
	}
}

// withTrailer re-encodes the golden segment's trailer as t, with a valid CRC.
func withTrailer(t *testing.T, tr Trailer) []byte {
	b := readGolden(t)
	end := len(b) - TrailerSize
	footer := b[end-int(tr.FooterLength) : end]
	tr.FooterCRC = tr.footerCRC(footer)
	return tr.appendTo(b[:end])
}

func TestUnsupportedVersion(t *testing.T) {
	footerLen := uint32(footerHeaderSize + len(goldenEntries)*EntrySize)
	for _, tt := range []struct {
		tr   Trailer
		want error
	}{
		{Trailer{FooterLength: footerLen, Version: V1}, nil},
		{Trailer{FooterLength: footerLen, Version: 2}, ErrUnsupportedVersion},
		{Trailer{FooterLength: footerLen, Version: V1, Flags: 1}, ErrUnsupportedVersion},
		{Trailer{FooterLength: footerLen, Version: 0}, ErrCorrupt},
	} {
		_, err := readIndex(withTrailer(t, tt.tr))
		if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
			t.Errorf("%+v: ReadIndex: %v, want %v", tt.tr, err, tt.want)
		}
	}
	if got := CurrentVersion.String(); got != "v1" {
		t.Errorf("CurrentVersion.String() = %q", got)
	}
}

// TestInvalidEntries writes footers with a valid CRC around entries no Writer
// produces, over a 1000-byte blocks region.
func TestInvalidEntries(t *testing.T) {
	ok := IndexEntry{TopicID: topicA, Partition: 1, BaseOffset: 10, LastOffset: 19, Position: 0, Length: 100, Records: 10}
	with := func(f func(*IndexEntry)) IndexEntry {
		e := ok
		f(&e)
		return e
	}
	next := func(e IndexEntry) IndexEntry {
		e.Position += e.Length
		e.BaseOffset, e.LastOffset = e.LastOffset+1, e.LastOffset+10
		return e
	}
	tests := []struct {
		name    string
		entries []IndexEntry
		ok      bool
	}{
		{"valid", []IndexEntry{ok, next(ok)}, true},
		{"gap between blocks", []IndexEntry{ok, with(func(e *IndexEntry) { *e = next(*e); e.Position += 50 })}, true},
		{"fewer records than offsets", []IndexEntry{with(func(e *IndexEntry) { e.Records = 0 })}, true},
		{"other partition, lower offsets", []IndexEntry{ok, with(func(e *IndexEntry) { e.Partition = 2; e.Position = 100; e.BaseOffset, e.LastOffset = 0, 9 })}, true},
		{"block ends past the region", []IndexEntry{with(func(e *IndexEntry) { e.Position = 950 })}, false},
		{"block inside the footer", []IndexEntry{with(func(e *IndexEntry) { e.Length = 1001 })}, false},
		{"position beyond int64", []IndexEntry{with(func(e *IndexEntry) { e.Position = -8 })}, false},
		{"shorter than a batch header", []IndexEntry{with(func(e *IndexEntry) { e.Length = 60 })}, false},
		{"overlapping", []IndexEntry{ok, with(func(e *IndexEntry) { *e = next(*e); e.Position = 99 })}, false},
		{"out of position order", []IndexEntry{next(ok), ok}, false},
		{"same partition, offsets repeat", []IndexEntry{ok, with(func(e *IndexEntry) { e.Position = 100 })}, false},
		{"same partition, offsets overlap", []IndexEntry{ok, with(func(e *IndexEntry) { *e = next(*e); e.BaseOffset = 19 })}, false},
		{"last before base", []IndexEntry{with(func(e *IndexEntry) { e.LastOffset = 9 })}, false},
		{"negative base", []IndexEntry{with(func(e *IndexEntry) { e.BaseOffset = -1 })}, false},
		{"more records than offsets", []IndexEntry{with(func(e *IndexEntry) { e.Records = 11 })}, false},
		{"negative partition", []IndexEntry{with(func(e *IndexEntry) { e.Partition = -1 })}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := append(make([]byte, 1000), encodeIndex(tt.entries)...)
			got, err := readIndex(b)
			if tt.ok {
				if err != nil || len(got) != len(tt.entries) {
					t.Fatalf("ReadIndex: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ReadIndex: %v, want ErrCorrupt", err)
			}
		})
	}
	t.Run("entry count disagrees with length", func(t *testing.T) {
		b := append(make([]byte, 1000), encodeIndex([]IndexEntry{ok})...)
		footer := b[1000 : len(b)-TrailerSize]
		binary.BigEndian.PutUint32(footer, 2)
		tr, err := DecodeTrailer(b)
		if err != nil {
			t.Fatal(err)
		}
		binary.BigEndian.PutUint32(b[len(b)-TrailerSize+trFooterCRC:], tr.footerCRC(footer))
		if _, err := readIndex(b); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("ReadIndex: %v, want ErrCorrupt", err)
		}
	})
	t.Run("footer length not a whole entry", func(t *testing.T) {
		b := withTrailer(t, Trailer{FooterLength: footerHeaderSize + EntrySize + 1, Version: V1})
		if _, err := readIndex(b); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("ReadIndex: %v, want ErrCorrupt", err)
		}
	})
	t.Run("footer longer than the object", func(t *testing.T) {
		b := encodeIndex(nil)
		binary.BigEndian.PutUint32(b[len(b)-TrailerSize:], footerHeaderSize+EntrySize)
		if _, err := readIndex(b); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("ReadIndex: %v, want ErrCorrupt", err)
		}
	})
}

// errReader fails every read: a network error, which must not be reported
// as corruption.
type errReader struct{}

var errNetwork = errors.New("connection reset")

func (errReader) ReadAt([]byte, int64) (int, error) { return 0, errNetwork }

func TestReadErrors(t *testing.T) {
	_, err := ReadIndex(errReader{}, 1000)
	if !errors.Is(err, errNetwork) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadIndex: %v, want the read error and no ErrCorrupt", err)
	}
	_, err = ReadBlock(errReader{}, goldenEntries[0])
	if !errors.Is(err, errNetwork) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadBlock: %v, want the read error and no ErrCorrupt", err)
	}
}

func TestReadBlockMismatch(t *testing.T) {
	golden := readGolden(t)
	r := bytes.NewReader(golden)
	e := goldenEntries[0]
	tests := []struct {
		name string
		edit func(*IndexEntry)
	}{
		{"base offset", func(e *IndexEntry) { e.BaseOffset++ }},
		{"last offset", func(e *IndexEntry) { e.LastOffset++ }},
		{"records", func(e *IndexEntry) { e.Records-- }},
		{"max timestamp", func(e *IndexEntry) { e.MaxTimestamp++ }},
		{"length cuts a batch", func(e *IndexEntry) { e.Length-- }},
		{"length covers the next block", func(e *IndexEntry) { e.Length += goldenEntries[1].Length }},
		{"position", func(e *IndexEntry) { e.Position++ }},
		{"negative position", func(e *IndexEntry) { e.Position = -1 }},
		{"empty", func(e *IndexEntry) { e.Length = 0 }},
		{"past the end", func(e *IndexEntry) { e.Position = int64(len(golden)) - 100 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := e
			tt.edit(&bad)
			if _, err := ReadBlock(r, bad); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ReadBlock: %v, want ErrCorrupt", err)
			}
		})
	}
	t.Run("out of order batches", func(t *testing.T) {
		block, err := ReadBlock(r, e)
		if err != nil {
			t.Fatal(err)
		}
		// Swap the block's two batches: same bytes, same totals.
		half := len(block) / 2
		swapped := append(bytes.Clone(block[half:]), block[:half]...)
		bad := e
		bad.BaseOffset, bad.LastOffset = 2, 1
		if err := CheckBlock(swapped, bad); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("CheckBlock: %v, want ErrCorrupt", err)
		}
	})
}

// TestDecodeFromTail reads the index the way a ranged reader does: one GET of
// a suffix larger than the index, then DecodeTrailer and DecodeFooter.
func TestDecodeFromTail(t *testing.T) {
	golden := readGolden(t)
	size := int64(len(golden))
	for _, tailLen := range []int64{TrailerSize, 100, 400, size} {
		t.Run(fmt.Sprint(tailLen), func(t *testing.T) {
			tail := golden[size-tailLen:]
			tr, err := DecodeTrailer(tail)
			if err != nil {
				t.Fatal(err)
			}
			if tr.IndexSize() > tailLen {
				// A second GET for the rest of the index.
				tail = make([]byte, tr.IndexSize())
				if _, err := io.ReadFull(io.NewSectionReader(bytes.NewReader(golden), size-tr.IndexSize(), tr.IndexSize()), tail); err != nil {
					t.Fatal(err)
				}
			}
			footer := tail[int64(len(tail))-tr.IndexSize() : len(tail)-TrailerSize]
			entries, err := DecodeFooter(footer, tr, size)
			if err != nil || len(entries) != len(goldenEntries) {
				t.Fatalf("DecodeFooter: %d entries, %v", len(entries), err)
			}
		})
	}
}

func TestDecodeTrailerLimits(t *testing.T) {
	for _, n := range []uint32{0, 3, footerHeaderSize + 1, MaxFooterLength + EntrySize, math.MaxUint32} {
		b := Trailer{FooterLength: n, Version: V1}.appendTo(nil)
		if _, err := DecodeTrailer(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("footer length %d: DecodeTrailer: %v, want ErrCorrupt", n, err)
		}
	}
	b := Trailer{FooterLength: footerHeaderSize, Version: V1}.appendTo(nil)
	b[trReserved+2] = 1
	if _, err := DecodeTrailer(b); !errors.Is(err, ErrCorrupt) {
		t.Errorf("reserved byte set: DecodeTrailer: %v, want ErrCorrupt", err)
	}
	if _, err := DecodeTrailer(b[1:]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("short: DecodeTrailer: %v, want ErrCorrupt", err)
	}
}
