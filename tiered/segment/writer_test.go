package segment

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/stratalog/strata/tiered/batch"
)

var (
	topicA = [16]byte{0xa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	topicB = [16]byte{0xb, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
)

// mkBatch encodes an uncompressed batch of n records from offset base, with
// values of valueSize bytes and timestamps ts, ts+1, ...
func mkBatch(t testing.TB, base int64, n, valueSize int, ts int64) []byte {
	t.Helper()
	recs := make([]batch.Record, n)
	for i := range recs {
		recs[i] = batch.Record{
			Timestamp: ts + int64(i),
			Key:       fmt.Appendf(nil, "k%d", base+int64(i)),
			Value:     bytes.Repeat([]byte{byte(base) + byte(i)}, valueSize),
		}
	}
	b, err := batch.Encode(batch.Batch{BaseOffset: base, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// added is one Add call of a test.
type added struct {
	topic     [16]byte
	partition int32
	batches   []byte
}

// writeSegment writes adds into a segment and returns it with its entries.
func writeSegment(t testing.TB, opts WriterOptions, adds []added) ([]byte, []IndexEntry) {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf, opts)
	for _, a := range adds {
		if err := w.Add(a.topic, a.partition, a.batches); err != nil {
			t.Fatalf("Add: %v", err)
		}
	}
	entries, err := w.Close()
	if err != nil {
		t.Fatalf("Close: %v", err)
	}
	if w.Size() != int64(buf.Len()) {
		t.Fatalf("Size %d, wrote %d", w.Size(), buf.Len())
	}
	return buf.Bytes(), entries
}

func TestRoundTrip(t *testing.T) {
	// Partition A/0 gets enough batches of ~1 KiB to fill several 4 KiB
	// blocks; A/1 and B/0 interleave with it.
	var adds []added
	next := map[int32]int64{}
	want := map[[2]int64][]byte{} // (topic byte, partition) -> all its batches in order
	add := func(topic [16]byte, p int32, n int) {
		var bs []byte
		for range n {
			b := mkBatch(t, next[p]+int64(topic[0])*1000, 3, 300, 1000+next[p])
			next[p] += 3
			bs = append(bs, b...)
		}
		adds = append(adds, added{topic, p, bs})
		k := [2]int64{int64(topic[0]), int64(p)}
		want[k] = append(want[k], bs...)
	}
	add(topicA, 0, 10)
	add(topicA, 0, 5) // extends A/0's current block
	add(topicA, 1, 2)
	add(topicB, 0, 1)
	add(topicA, 0, 2) // A/0 again, after others: a new block
	seg, entries := writeSegment(t, WriterOptions{BlockSize: 4096}, adds)

	got, err := ReadIndex(bytes.NewReader(seg), int64(len(seg)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, entries) {
		t.Fatalf("ReadIndex\n got %+v\nwant %+v", got, entries)
	}
	blocksOf := map[[2]int64][]byte{}
	var pos int64
	for i, e := range entries {
		if e.Position != pos {
			t.Fatalf("entry %d at %d, want %d (blocks back to back)", i, e.Position, pos)
		}
		pos += e.Length
		block, err := ReadBlock(bytes.NewReader(seg), e)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		// Blocks are split once they reach BlockSize: only a block's last
		// batch may cross it.
		if last := lastBatchSize(t, block); e.Length-int64(last) >= 4096 {
			t.Fatalf("entry %d: %d bytes, last batch %d, block size 4096", i, e.Length, last)
		}
		k := [2]int64{int64(e.TopicID[0]), int64(e.Partition)}
		blocksOf[k] = append(blocksOf[k], block...)
	}
	if want := int64(len(seg)) - TrailerSize - footerHeaderSize - int64(len(entries))*EntrySize; pos != want {
		t.Fatalf("blocks end at %d, want %d", pos, want)
	}
	for k, w := range want {
		if !bytes.Equal(blocksOf[k], w) {
			t.Fatalf("partition %v: blocks differ from the batches added", k)
		}
	}
	if n := countEntries(entries, topicA, 0); n < 4 {
		t.Fatalf("A/0 has %d blocks, want it split into at least 4", n)
	}
}

func lastBatchSize(t *testing.T, block []byte) int {
	var last int
	if err := batch.Each(block, func(b []byte, _ batch.Header) error { last = len(b); return nil }); err != nil {
		t.Fatal(err)
	}
	return last
}

func countEntries(es []IndexEntry, topic [16]byte, p int32) int {
	n := 0
	for _, e := range es {
		if e.TopicID == topic && e.Partition == p {
			n++
		}
	}
	return n
}

func TestEntryFields(t *testing.T) {
	b1 := mkBatch(t, 10, 2, 5, 500) // offsets 10-11, max timestamp 501
	b2 := mkBatch(t, 15, 3, 5, 400) // offsets 15-17 (a gap, as after compaction), max 402
	seg, entries := writeSegment(t, WriterOptions{}, []added{{topicA, 7, append(bytes.Clone(b1), b2...)}})
	want := []IndexEntry{{
		TopicID: topicA, Partition: 7, BaseOffset: 10, LastOffset: 17, MaxTimestamp: 501,
		Position: 0, Length: int64(len(b1) + len(b2)), Records: 5,
	}}
	if !slices.Equal(entries, want) {
		t.Fatalf("entries\n got %+v\nwant %+v", entries, want)
	}
	if wantSize := len(b1) + len(b2) + footerHeaderSize + EntrySize + TrailerSize; len(seg) != wantSize {
		t.Fatalf("segment of %d bytes, want %d", len(seg), wantSize)
	}
}

func TestEmptySegment(t *testing.T) {
	seg, entries := writeSegment(t, WriterOptions{}, nil)
	if len(entries) != 0 || len(seg) != footerHeaderSize+TrailerSize {
		t.Fatalf("%d entries, %d bytes", len(entries), len(seg))
	}
	got, err := ReadIndex(bytes.NewReader(seg), int64(len(seg)))
	if err != nil || len(got) != 0 {
		t.Fatalf("ReadIndex: %v, %v", got, err)
	}
}

func TestAddRejects(t *testing.T) {
	good := mkBatch(t, 100, 5, 10, 0) // offsets 100-104
	corrupt := bytes.Clone(good)
	batch.SetBaseOffset(corrupt, -5)
	tests := []struct {
		name    string
		batches []byte
		want    error
	}{
		{"same offsets", good, ErrOutOfOrder},
		{"overlapping", mkBatch(t, 104, 1, 1, 0), ErrOutOfOrder},
		{"earlier", mkBatch(t, 50, 1, 1, 0), ErrOutOfOrder},
		{"good then out of order", append(mkBatch(t, 105, 1, 1, 0), mkBatch(t, 105, 1, 1, 0)...), ErrOutOfOrder},
		{"partial batch", good[:len(good)-1], batch.ErrTruncated},
		{"bad header", corrupt, batch.ErrCorrupt},
		{"magic 1", append([]byte(nil), make([]byte, 70)...), batch.ErrUnsupportedMagic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewWriter(&buf, WriterOptions{})
			if err := w.Add(topicA, 0, good); err != nil {
				t.Fatal(err)
			}
			size := w.Size()
			if err := w.Add(topicA, 0, tt.batches); !errors.Is(err, tt.want) {
				t.Fatalf("Add: %v, want %v", err, tt.want)
			}
			if w.Size() != size || buf.Len() != int(size) {
				t.Fatalf("a rejected Add wrote %d bytes", int64(buf.Len())-size)
			}
			// The Writer is still usable, and other partitions unaffected.
			if err := w.Add(topicA, 0, mkBatch(t, 105, 1, 1, 0)); err != nil {
				t.Fatal(err)
			}
			if err := w.Add(topicA, 1, mkBatch(t, 0, 1, 1, 0)); err != nil {
				t.Fatal(err)
			}
			entries, err := w.Close()
			if err != nil || len(entries) != 2 || entries[0].LastOffset != 105 {
				t.Fatalf("Close: %+v, %v", entries, err)
			}
		})
	}
	t.Run("no batch", func(t *testing.T) {
		if err := NewWriter(new(bytes.Buffer), WriterOptions{}).Add(topicA, 0, nil); err == nil {
			t.Fatal("Add of nothing succeeded")
		}
	})
	t.Run("negative partition", func(t *testing.T) {
		if err := NewWriter(new(bytes.Buffer), WriterOptions{}).Add(topicA, -1, good); err == nil {
			t.Fatal("Add to partition -1 succeeded")
		}
	})
}

func TestClosed(t *testing.T) {
	w := NewWriter(new(bytes.Buffer), WriterOptions{})
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Add(topicA, 0, mkBatch(t, 0, 1, 1, 0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Add after Close: %v", err)
	}
	if _, err := w.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

// failingWriter accepts limit bytes, then fails: the short writes and errors
// an upload stream can produce, on demand.
type failingWriter struct {
	limit int
	short bool // return a short count without an error
}

var errDisk = errors.New("disk on fire")

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) <= f.limit {
		f.limit -= len(p)
		return len(p), nil
	}
	n := f.limit
	f.limit = 0
	if f.short {
		return n, nil
	}
	return n, errDisk
}

func TestWriteErrors(t *testing.T) {
	b := mkBatch(t, 0, 1, 10, 0)
	for _, short := range []bool{false, true} {
		want := errDisk
		if short {
			want = nil // io.ErrShortWrite, checked below
		}
		t.Run(fmt.Sprintf("block short=%t", short), func(t *testing.T) {
			w := NewWriter(&failingWriter{limit: len(b) + 3, short: short}, WriterOptions{})
			if err := w.Add(topicA, 0, b); err != nil {
				t.Fatal(err)
			}
			err := w.Add(topicA, 0, mkBatch(t, 1, 1, 10, 0))
			if err == nil || want != nil && !errors.Is(err, want) {
				t.Fatalf("Add: %v", err)
			}
			if w.Size() != int64(len(b)+3) {
				t.Fatalf("Size %d after a partial write", w.Size())
			}
			if err2 := w.Add(topicB, 0, b); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("Add after failure: %v", err2)
			}
			if _, err2 := w.Close(); err2 == nil {
				t.Fatal("Close after failure succeeded")
			}
		})
		t.Run(fmt.Sprintf("footer short=%t", short), func(t *testing.T) {
			w := NewWriter(&failingWriter{limit: len(b) + 10, short: short}, WriterOptions{})
			if err := w.Add(topicA, 0, b); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Close(); err == nil || want != nil && !errors.Is(err, want) {
				t.Fatalf("Close: %v", err)
			}
		})
	}
}

func TestTooManyBlocks(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, WriterOptions{BlockSize: 1})
	w.maxEntries = 3
	if err := w.Add(topicA, 0, mkBatch(t, 0, 1, 1, 0)); err != nil {
		t.Fatal(err)
	}
	two := append(mkBatch(t, 1, 1, 1, 0), mkBatch(t, 2, 1, 1, 0)...)
	if err := w.Add(topicA, 0, two); err != nil {
		t.Fatal(err)
	}
	size := w.Size()
	if err := w.Add(topicA, 0, mkBatch(t, 3, 1, 1, 0)); !errors.Is(err, ErrTooManyBlocks) {
		t.Fatalf("Add: %v, want ErrTooManyBlocks", err)
	}
	if w.Size() != size {
		t.Fatal("a rejected Add wrote")
	}
	entries, err := w.Close()
	if err != nil || len(entries) != 3 {
		t.Fatalf("Close: %d entries, %v", len(entries), err)
	}
}
