package compact

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stratalog/strata/tiered/batch"
	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/segment"
)

// l0 is a test's input: L0 objects holding partitions 0, 1 and 2, and what
// partition 1 holds.
type l0 struct {
	entries []segment.IndexEntry // partition 1's, in offset order
	batches [][]byte             // partition 1's batches, in offset order
}

// all returns partition 1's batches concatenated.
func (l l0) all() []byte { return bytes.Join(l.batches, nil) }

// writeL0 PUTs objects L0 objects; each holds one batch of partition 0, then
// perObject batches of partition 1 (five records each, one offset a second,
// keys k0 to k9, codecs in turn), then one batch of partition 2. With
// blockSize 1 every batch is a block of its own.
func writeL0(t testing.TB, bucket objstore.Bucket, objects, perObject, blockSize int) l0 {
	t.Helper()
	var (
		in  l0
		off int64
		n   int
	)
	other := func(p int32, i int) added {
		return added{p, encode(t, spec{base: int64(i), recs: []kv{rec("x", "y")}})}
	}
	for i := range objects {
		var p1 []byte
		for range perObject {
			s := spec{base: off, codec: codecs[n%len(codecs)]}
			for range 5 {
				s.recs = append(s.recs, rec(fmt.Sprintf("k%d", off%10), fmt.Sprintf("%0100d", off)))
				off++
			}
			b := encode(t, s)
			in.batches = append(in.batches, b)
			p1 = append(p1, b...)
			n++
		}
		entries := putSegment(t, bucket, fmt.Sprintf("l0/%04d", i), blockSize, []added{other(0, i), {1, p1}, other(2, i)})
		in.entries = append(in.entries, of(entries, 1)...)
	}
	return in
}

// checkResult checks what every Rewrite result must satisfy: entries in
// offset order within the input's range, one object per Put, and the objects'
// footers matching the entries. It returns the batches read back.
func checkResult(t *testing.T, bucket objstore.Bucket, in []segment.IndexEntry, res Result) []byte {
	t.Helper()
	lo, hi := in[0].BaseOffset, in[len(in)-1].LastOffset
	for i, e := range res.Entries {
		if e.BaseOffset < lo || e.LastOffset > hi || (i > 0 && e.BaseOffset <= res.Entries[i-1].LastOffset) {
			t.Fatalf("entry %d covers %d-%d; input %d-%d", i, e.BaseOffset, e.LastOffset, lo, hi)
		}
	}
	if res.Puts != len(res.Objects) {
		t.Fatalf("%d puts for %d objects", res.Puts, len(res.Objects))
	}
	var written int64
	for _, key := range res.Objects {
		written += int64(len(readObject(t, bucket, key)))
	}
	if written != res.BytesWritten {
		t.Fatalf("objects hold %d bytes, BytesWritten %d", written, res.BytesWritten)
	}
	return readBack(t, bucket, res)
}

func TestRewriteMerges(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		perObject, blockSize   int
		parallelism, wantGets  int
		wantEntries, wantBlock int
	}{
		// Three adjacent blocks of partition 1 per object: one GET each.
		{"coalesced", 3, 1, 0, 4, 12, 0},
		{"serial", 3, 1, 1, 4, 12, 0},
		{"one block per object", 2, 0, 3, 4, 4, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bucket := newBucket(t)
			in := writeL0(t, bucket, 4, tc.perObject, tc.blockSize)
			if len(in.entries) != tc.wantEntries {
				t.Fatalf("%d input entries, want %d", len(in.entries), tc.wantEntries)
			}
			cfg := Config{Bucket: bucket, NewKey: keys("out"), GetParallelism: tc.parallelism}
			res, err := Rewrite(context.Background(), cfg, in.entries)
			if err != nil {
				t.Fatal(err)
			}
			if got := checkResult(t, bucket, in.entries, res); !bytes.Equal(got, in.all()) {
				t.Fatal("output batches differ from the input's")
			}
			var read int64
			for _, e := range in.entries {
				read += e.Length
			}
			if res.Gets != tc.wantGets || res.BytesRead != read || len(res.Objects) != 1 {
				t.Fatalf("%d gets of %d bytes, %d objects; want %d gets of %d bytes, 1 object",
					res.Gets, res.BytesRead, len(res.Objects), tc.wantGets, read)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	e := func(obj string, pos, length int64) segment.IndexEntry {
		return segment.IndexEntry{Object: obj, Position: pos, Length: length}
	}
	const mib = 1 << 20
	for _, tc := range []struct {
		name    string
		entries []segment.IndexEntry
		want    []int // entries per span
	}{
		{"adjacent", []segment.IndexEntry{e("a", 0, 10), e("a", 10, 5), e("a", 15, 1)}, []int{3}},
		{"gap", []segment.IndexEntry{e("a", 0, 10), e("a", 11, 5)}, []int{1, 1}},
		{"objects", []segment.IndexEntry{e("a", 0, 10), e("b", 10, 5), e("b", 15, 5)}, []int{1, 2}},
		{"cap", []segment.IndexEntry{e("a", 0, 3*mib), e("a", 3*mib, 3*mib), e("a", 6*mib, 3*mib), e("a", 9*mib, 1)}, []int{2, 2}},
		{"exactly the cap", []segment.IndexEntry{e("a", 0, 4*mib), e("a", 4*mib, 4*mib)}, []int{2}},
		{"one large block", []segment.IndexEntry{e("a", 0, 1), e("a", 1, 20*mib), e("a", 20*mib+1, 1)}, []int{1, 1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []int
			next := 0
			for _, s := range plan(tc.entries) {
				got = append(got, len(s.entries))
				first := s.entries[0]
				if &s.entries[0] != &tc.entries[next] || s.object != first.Object || s.off != first.Position {
					t.Fatalf("span %+v does not start at entry %d", s, next)
				}
				next += len(s.entries)
				last := s.entries[len(s.entries)-1]
				if s.off+s.length != last.Position+last.Length {
					t.Fatalf("span %+v does not end with its last entry", s)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("spans of %v entries, want %v", got, tc.want)
			}
		})
	}
}

func TestRewriteTargetBytes(t *testing.T) {
	bucket := newBucket(t)
	in := writeL0(t, bucket, 3, 4, 1)
	maxBatch := 0
	for _, b := range in.batches {
		maxBatch = max(maxBatch, len(b))
	}
	target := int64(2*maxBatch + 1)
	res, err := Rewrite(context.Background(), Config{Bucket: bucket, NewKey: keys("out"), TargetBytes: target}, in.entries)
	if err != nil {
		t.Fatal(err)
	}
	if got := checkResult(t, bucket, in.entries, res); !bytes.Equal(got, in.all()) {
		t.Fatal("output batches differ from the input's")
	}
	if len(res.Objects) < 2 {
		t.Fatalf("%d objects", len(res.Objects))
	}
	blocks := map[string]int64{}
	for _, e := range res.Entries {
		blocks[e.Object] += e.Length
	}
	for i, key := range res.Objects {
		size := blocks[key]
		if size >= target+int64(maxBatch) || (i < len(res.Objects)-1 && size < target) {
			t.Fatalf("object %d holds %d bytes of blocks; target %d, batches up to %d", i, size, target, maxBatch)
		}
	}
}

func TestRewriteMaxSpan(t *testing.T) {
	bucket := newBucket(t)
	in := writeL0(t, bucket, 3, 4, 0) // batches of 5 offsets, one a second
	span := 12 * time.Second
	res, err := Rewrite(context.Background(), Config{Bucket: bucket, NewKey: keys("out"), MaxSpan: span}, in.entries)
	if err != nil {
		t.Fatal(err)
	}
	if got := checkResult(t, bucket, in.entries, res); !bytes.Equal(got, in.all()) {
		t.Fatal("output batches differ from the input's")
	}
	// Each object starts with the batch that would have gone past the
	// previous object's span: firsts are more than span apart, and every
	// batch is within span of its object's first.
	var firsts []int64
	for _, key := range res.Objects {
		obj := readObject(t, bucket, key)
		entries, err := segment.ReadIndex(bytes.NewReader(obj), int64(len(obj)))
		if err != nil {
			t.Fatal(err)
		}
		first := int64(-1)
		for _, e := range entries {
			err := batch.Each(obj[e.Position:e.Position+e.Length], func(_ []byte, h batch.Header) error {
				if first < 0 {
					first = h.MaxTimestamp
					firsts = append(firsts, first)
				}
				if h.MaxTimestamp-first > span.Milliseconds() {
					t.Errorf("object %s: batch at %d is %d ms after the first", key, h.BaseOffset, h.MaxTimestamp-first)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	// 12 batches 5 s apart: the fourth is 15 s after the first.
	if len(firsts) != 4 {
		t.Fatalf("%d objects, want 4", len(firsts))
	}
	for i := 1; i < len(firsts); i++ {
		if firsts[i]-firsts[i-1] != 15_000 {
			t.Fatalf("objects start at %v, want 15 s apart", firsts)
		}
	}
}

func TestRewriteCleanDropsAll(t *testing.T) {
	bucket := newBucket(t)
	in := writeL0(t, bucket, 2, 2, 1)
	before := listAll(t, bucket)
	n := 0
	drop := func([]byte, batch.Header) ([]byte, error) { n++; return nil, nil }
	res, err := Rewrite(context.Background(), Config{Bucket: bucket, NewKey: keys("out"), Clean: drop}, in.entries)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 0 || len(res.Objects) != 0 || res.Puts != 0 || res.BytesWritten != 0 || n != len(in.batches) {
		t.Fatalf("result %+v after %d Clean calls", res, n)
	}
	if after := listAll(t, bucket); !slices.Equal(after, before) {
		t.Fatalf("bucket holds %v, had %v", after, before)
	}
}

// TestRewriteWithCleaner compacts partition 1 while merging it: the output
// holds the latest record of each key, and the range's last batch, which has
// nothing left, stays as an empty batch (Cleaner.UpperBound) so that the
// output ends where the input did.
func TestRewriteWithCleaner(t *testing.T) {
	bucket := newBucket(t)
	in := writeL0(t, bucket, 3, 3, 1)
	last := in.entries[len(in.entries)-1].LastOffset + 1
	tail := encode(t, spec{base: last, codec: batch.CodecZstd, recs: []kv{rec("<nil>", "no key")}})
	entries := append(slices.Clone(in.entries), putSegment(t, bucket, "l0/tail", 0, []added{{1, tail}})...)

	c := &Cleaner{Map: buildMap(t, append(slices.Clone(in.batches), tail)), Now: now, DeleteRetentionMs: deleteRetMs, UpperBound: last + 1}
	defer c.Close()
	res, err := Rewrite(context.Background(), Config{Bucket: bucket, NewKey: keys("out"), Clean: c.Clean}, entries)
	if err != nil {
		t.Fatal(err)
	}
	out := checkResult(t, bucket, entries, res)
	var want []string
	for off := last - 10; off < last; off++ {
		want = append(want, fmt.Sprintf("k%d@%d=%0100d", off%10, off, off))
	}
	if got := survivors(t, [][]byte{out}); !slices.Equal(got, want) {
		t.Fatalf("survivors %v, want %v", got, want)
	}
	e := res.Entries[len(res.Entries)-1]
	if h := header(t, out[len(out)-batch.HeaderSize:]); e.LastOffset != last || h.NumRecords != 0 || h.BaseOffset != last {
		t.Fatalf("output ends at %d with %+v; want an empty batch at %d", e.LastOffset, h, last)
	}
	if s := c.Stats(); s.BatchesEmptied != 1 || s.NullKeysRemoved != 1 || s.RecordsKept != 10 {
		t.Fatalf("stats %+v", s)
	}
}

func TestRewriteCorrupt(t *testing.T) {
	bucket := newBucket(t)
	in := writeL0(t, bucket, 2, 2, 1)
	// bad/flipped is l0/0000 with one byte flipped inside a record of
	// partition 1's first batch.
	obj := readObject(t, bucket, in.entries[0].Object)
	obj[in.entries[0].Position+batch.HeaderSize+10] ^= 0x55
	if err := bucket.Put(context.Background(), "bad/flipped", bytes.NewReader(obj), int64(len(obj))); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(e []segment.IndexEntry)) []segment.IndexEntry {
		es := slices.Clone(in.entries)
		f(es)
		return es
	}
	size := int64(len(obj))
	for _, tc := range []struct {
		name    string
		entries []segment.IndexEntry
		want    []error
	}{
		{"bad crc", edit(func(es []segment.IndexEntry) { es[0].Object = "bad/flipped" }), []error{ErrCorrupt, batch.ErrCorrupt}},
		{"records mismatch", edit(func(es []segment.IndexEntry) { es[1].Records++ }), []error{ErrCorrupt, segment.ErrCorrupt}},
		{"not at a batch", edit(func(es []segment.IndexEntry) { es[1].Position++; es[1].Length-- }), []error{ErrCorrupt}},
		{"past the end", edit(func(es []segment.IndexEntry) { es[3].Position = size + 10 }), []error{ErrCorrupt, objstore.ErrInvalidRange}},
		{"runs past the end", edit(func(es []segment.IndexEntry) { es[3].Length = size }), []error{ErrCorrupt}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Rewrite(context.Background(), Config{Bucket: bucket, NewKey: keys("out")}, tc.entries)
			for _, want := range tc.want {
				if !errors.Is(err, want) {
					t.Fatalf("Rewrite: %v, want %v", err, want)
				}
			}
			if res.Entries != nil || len(res.Objects) != 0 {
				t.Fatalf("result %+v", res)
			}
		})
	}
	t.Run("missing object", func(t *testing.T) {
		es := edit(func(es []segment.IndexEntry) { es[2].Object = "gone" })
		_, err := Rewrite(context.Background(), Config{Bucket: bucket, NewKey: keys("out")}, es)
		if !errors.Is(err, objstore.ErrNotExist) || errors.Is(err, ErrCorrupt) {
			t.Fatalf("Rewrite: %v, want ErrNotExist and not ErrCorrupt", err)
		}
	})
}

func TestRewriteInvalid(t *testing.T) {
	bucket := newBucket(t)
	in := writeL0(t, bucket, 2, 2, 1)
	edit := func(f func(e []segment.IndexEntry)) []segment.IndexEntry {
		es := slices.Clone(in.entries)
		f(es)
		return es
	}
	cfg := Config{Bucket: bucket, NewKey: keys("out")}
	for _, tc := range []struct {
		name    string
		cfg     Config
		entries []segment.IndexEntry
	}{
		{"no bucket", Config{NewKey: keys("out")}, in.entries},
		{"no NewKey", Config{Bucket: bucket}, in.entries},
		{"out of order", cfg, edit(func(es []segment.IndexEntry) { es[1], es[2] = es[2], es[1] })},
		{"overlap", cfg, edit(func(es []segment.IndexEntry) { es[1].BaseOffset = es[0].LastOffset })},
		{"two partitions", cfg, edit(func(es []segment.IndexEntry) { es[3].Partition = 2 })},
		{"two topics", cfg, edit(func(es []segment.IndexEntry) { es[3].TopicID[0]++ })},
		{"no object", cfg, edit(func(es []segment.IndexEntry) { es[0].Object = "" })},
		{"short block", cfg, edit(func(es []segment.IndexEntry) { es[0].Length = 10 })},
		{"clean moves offsets", Config{Bucket: bucket, NewKey: keys("out"), Clean: func(b []byte, h batch.Header) ([]byte, error) {
			b = bytes.Clone(b)
			batch.SetBaseOffset(b, h.BaseOffset+1)
			return b, nil
		}}, in.entries},
		{"clean breaks the crc", Config{Bucket: bucket, NewKey: keys("out"), Clean: func(b []byte, h batch.Header) ([]byte, error) {
			b = bytes.Clone(b)
			b[len(b)-1]++
			return b, nil
		}}, in.entries},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Rewrite(context.Background(), tc.cfg, tc.entries)
			if !errors.Is(err, ErrInvalid) || res.Entries != nil {
				t.Fatalf("Rewrite: %+v, %v; want ErrInvalid", res, err)
			}
		})
	}
	t.Run("no entries", func(t *testing.T) {
		res, err := Rewrite(context.Background(), cfg, nil)
		if err != nil || res.Entries != nil || res.Gets != 0 {
			t.Fatalf("Rewrite: %+v, %v", res, err)
		}
	})
}

// TestRewritePutFailure checks the crash contract's error half: a failed PUT
// returns the error and the keys written so far, the failed one included.
func TestRewritePutFailure(t *testing.T) {
	fb := &faultBucket{Bucket: newBucket(t), failPut: 2}
	in := writeL0(t, fb.Bucket, 3, 4, 1)
	res, err := Rewrite(context.Background(), Config{Bucket: fb, NewKey: keys("out"), TargetBytes: 1}, in.entries)
	if err == nil || res.Entries != nil || res.Puts != 1 {
		t.Fatalf("Rewrite: %+v, %v; want an error after one put", res, err)
	}
	if want := []string{"out/000000", "out/000001"}; !slices.Equal(res.Objects, want) {
		t.Fatalf("objects %v, want %v", res.Objects, want)
	}
	if _, err := fb.Size(context.Background(), "out/000000"); err != nil {
		t.Fatalf("first object: %v", err)
	}
}

// TestRewriteRetriedPut checks that ErrExists from a client's retry of a PUT
// that had succeeded counts as success.
func TestRewriteRetriedPut(t *testing.T) {
	fb := &faultBucket{Bucket: newBucket(t), retriedPut: true}
	in := writeL0(t, fb.Bucket, 2, 2, 1)
	res, err := Rewrite(context.Background(), Config{Bucket: fb, NewKey: keys("out")}, in.entries)
	if err != nil {
		t.Fatal(err)
	}
	if got := checkResult(t, fb, in.entries, res); !bytes.Equal(got, in.all()) {
		t.Fatal("output batches differ from the input's")
	}
	t.Run("someone else's object", func(t *testing.T) {
		if err := fb.Bucket.Put(context.Background(), "taken", bytes.NewReader([]byte("x")), 1); err != nil {
			t.Fatal(err)
		}
		cfg := Config{Bucket: fb.Bucket, NewKey: func() string { return "taken" }}
		if _, err := Rewrite(context.Background(), cfg, in.entries); !errors.Is(err, objstore.ErrExists) {
			t.Fatalf("Rewrite: %v, want ErrExists", err)
		}
	})
}

// TestRewriteParallelGets holds the first GET until the fourth has started:
// the GETs run in parallel, and the output keeps the input's order even
// though later ranges arrive first.
func TestRewriteParallelGets(t *testing.T) {
	const parallel = 4
	started := make([]chan struct{}, 16)
	for i := range started {
		started[i] = make(chan struct{})
	}
	var once sync.Once
	fb := &faultBucket{Bucket: newBucket(t)}
	fb.hold = func(n int) {
		close(started[n])
		if n == 0 {
			select {
			case <-started[parallel-1]:
			case <-time.After(10 * time.Second):
				once.Do(func() { t.Error("GET 3 did not start while GET 0 was in flight") })
			}
		}
	}
	in := writeL0(t, fb.Bucket, 8, 2, 1)
	res, err := Rewrite(context.Background(), Config{Bucket: fb, NewKey: keys("out"), GetParallelism: parallel}, in.entries)
	if err != nil {
		t.Fatal(err)
	}
	if got := checkResult(t, fb, in.entries, res); !bytes.Equal(got, in.all()) {
		t.Fatal("output batches differ from the input's")
	}
	if res.Gets != 8 {
		t.Fatalf("%d gets, want 8", res.Gets)
	}
}

func TestRewriteCanceled(t *testing.T) {
	bucket := newBucket(t)
	in := writeL0(t, bucket, 4, 2, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Rewrite(ctx, Config{Bucket: bucket, NewKey: keys("out")}, in.entries)
	if !errors.Is(err, context.Canceled) || len(res.Objects) != 0 {
		t.Fatalf("Rewrite: %+v, %v; want context.Canceled", res, err)
	}
}
