package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// FuzzReadHeader checks that ReadHeader never panics, that an accepted header
// describes a batch inside the input, and that SetBaseOffset and
// SetPartitionLeaderEpoch round-trip through it.
func FuzzReadHeader(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ReadHeader(b)
		if err != nil {
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrUnsupportedMagic) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ReadHeader: unclassified error %v", err)
			}
			return
		}
		if h.Size() < HeaderSize || h.Size() > len(b) || h.Magic != Magic {
			t.Fatalf("accepted header %+v for %d bytes", h, len(b))
		}
		SetBaseOffset(b, h.BaseOffset+1)
		SetPartitionLeaderEpoch(b, h.PartitionLeaderEpoch+1)
		h2, err := ReadHeader(b)
		if err != nil || h2.BaseOffset != h.BaseOffset+1 || h2.PartitionLeaderEpoch != h.PartitionLeaderEpoch+1 {
			t.Fatalf("after rewrite: %+v, %v", h2, err)
		}
	})
}

// FuzzVerify checks that Each and Verify never panic, that Each hands out
// batches that tile its input, and that a verified header passes Check and
// still verifies after its base offset and leader epoch are rewritten.
func FuzzVerify(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		pos := 0
		err := Each(b, func(batch []byte, h Header) error {
			if len(batch) != h.Size() || &batch[0] != &b[pos] {
				t.Fatalf("batch of %d bytes at %d, header says %d", len(batch), pos, h.Size())
			}
			pos += len(batch)
			if _, err := Verify(batch); err != nil {
				return nil // corrupt batches are expected; keep walking
			}
			if err := h.Check(); err != nil {
				t.Fatalf("verified header fails Check: %v", err)
			}
			SetBaseOffset(batch, 12345)
			SetPartitionLeaderEpoch(batch, 6)
			if _, err := Verify(batch); err != nil {
				t.Fatalf("rewriting the base offset broke the batch: %v", err)
			}
			return nil
		})
		if err == nil && pos != len(b) {
			t.Fatalf("Each stopped at %d of %d bytes without error", pos, len(b))
		}
	})
}

// FuzzEachRecord decodes arbitrary records sections. It fixes up the header
// (magic, length, CRC) so that inputs reach the record decoder rather than
// fail the CRC. Invariants: no panic; every error is classified; no more
// records than NumRecords or than the bytes can hold; every record's offset
// lies within the batch, increasing; and the record bytes returned fit in the
// decompression limit (or in the input, uncompressed).
func FuzzEachRecord(f *testing.F) {
	f.Add(make([]byte, HeaderSize), uint32(1<<20))
	f.Fuzz(func(t *testing.T, b []byte, limit uint32) {
		maxOut := int(limit % (4 << 20))
		if len(b) >= HeaderSize {
			b[posMagic] = Magic
			binary.BigEndian.PutUint32(b[posLength:], uint32(len(b)-lengthOverhead))
			fixCRC(b)
		}
		h, _ := ReadHeader(b)
		n, total := 0, 0
		last := int64(-1)
		err := EachRecord(b, maxOut, func(r Record) error {
			n++
			total += len(r.Key) + len(r.Value)
			for _, rh := range r.Headers {
				total += len(rh.Key) + len(rh.Value)
			}
			if r.Offset <= last || r.Offset < h.BaseOffset || r.Offset > h.LastOffset() {
				t.Fatalf("record offset %d after %d, batch %d-%d", r.Offset, last, h.BaseOffset, h.LastOffset())
			}
			last = r.Offset
			return nil
		})
		if err != nil && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrUnsupportedMagic) &&
			!errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("EachRecord: unclassified error %v", err)
		}
		if n > max(int(h.NumRecords), 0) {
			t.Fatalf("%d records, header says %d", n, h.NumRecords)
		}
		bound := len(b)
		if h.Compression() != CodecNone {
			bound = maxOut
		}
		if n*minRecordSize > bound || total > bound {
			t.Fatalf("%d records of %d bytes from a %d-byte bound", n, total, bound)
		}
		// EachKeyValue sees the same keys and values and fails the same
		// way (a scratch decoder, as produce uses it).
		d := NewScratchDecoder(maxOut)
		defer d.Close()
		var kvs [][2][]byte
		_ = EachRecord(b, maxOut, func(r Record) error {
			kvs = append(kvs, [2][]byte{r.Key, r.Value})
			return nil
		})
		i := 0
		kvErr := d.EachKeyValue(b, func(k, v []byte) error {
			if i >= len(kvs) || !bytes.Equal(k, kvs[i][0]) || !bytes.Equal(v, kvs[i][1]) || (k == nil) != (kvs[i][0] == nil) {
				t.Fatalf("EachKeyValue record %d differs from EachRecord's", i)
			}
			i++
			return nil
		})
		if (kvErr == nil) != (err == nil) || i != n {
			t.Fatalf("EachKeyValue: %d records, %v; EachRecord: %d, %v", i, kvErr, n, err)
		}
	})
}
