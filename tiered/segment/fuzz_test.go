package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// FuzzReadIndex reads the index of arbitrary objects. With fixCRC, it first
// rewrites the footer CRC (when the trailer's footer length fits) so that
// inputs reach entry validation. Invariants: no panic; every error wraps
// ErrCorrupt or ErrUnsupportedVersion; returned entries are in position
// order, inside the blocks region and not overlapping, and DecodeTrailer and
// DecodeFooter agree with ReadIndex.
func FuzzReadIndex(f *testing.F) {
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, b []byte, fixCRC bool) {
		if fixCRC && len(b) >= TrailerSize {
			tr := b[len(b)-TrailerSize:]
			n := int64(binary.BigEndian.Uint32(tr[trFooterLength:]))
			if n+TrailerSize <= int64(len(b)) {
				footer := b[int64(len(b))-TrailerSize-n : len(b)-TrailerSize]
				var t Trailer
				t.Version = Version(binary.BigEndian.Uint16(tr[trVersion:]))
				t.Flags = binary.BigEndian.Uint16(tr[trFlags:])
				binary.BigEndian.PutUint32(tr[trFooterCRC:], t.footerCRC(footer))
			}
		}
		size := int64(len(b))
		entries, err := ReadIndex(bytes.NewReader(b), size)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedVersion) {
				t.Fatalf("ReadIndex: unclassified error %v", err)
			}
			return
		}
		tr, err := DecodeTrailer(b)
		if err != nil {
			t.Fatalf("ReadIndex succeeded, DecodeTrailer: %v", err)
		}
		end := size - tr.IndexSize()
		var prev int64
		for i, e := range entries {
			if e.Position < prev || e.Length <= 0 || e.Position+e.Length > end || e.LastOffset < e.BaseOffset {
				t.Fatalf("entry %d %+v out of bounds [%d, %d)", i, e, prev, end)
			}
			prev = e.Position + e.Length
		}
		again, err := DecodeFooter(b[end:size-TrailerSize], tr, size)
		if err != nil || len(again) != len(entries) {
			t.Fatalf("DecodeFooter disagrees: %d entries, %v", len(again), err)
		}
	})
}
