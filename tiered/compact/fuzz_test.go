package compact

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stratalog/strata/tiered/batch"
)

var update = flag.Bool("update", false, "rewrite the fuzz seed corpus in testdata/fuzz")

// fuzzSeeds are stored batches of every kind the cleaner meets: each codec,
// tombstones with and without a horizon, a control batch, an empty batch, an
// idempotent producer's batch, and several batches in a row.
func fuzzSeeds(t testing.TB) map[string][]byte {
	seeds := map[string][]byte{}
	for _, c := range codecs {
		seeds["batch-"+c.String()] = encode(t, spec{base: 3, codec: c, recs: []kv{rec("a", "1"), rec("b", "<nil>"), rec("<nil>", "x"), rec("a", "2")}})
	}
	horizon := encode(t, spec{base: 7, codec: batch.CodecLZ4, recs: []kv{rec("a", "<nil>")}})
	c := &Cleaner{Map: NewOffsetMap(10, 0), Now: 5000, DeleteRetentionMs: 1000}
	h, err := batch.Verify(horizon)
	if err != nil {
		t.Fatal(err)
	}
	if horizon, err = c.Clean(horizon, h); err != nil {
		t.Fatal(err)
	}
	seeds["horizon"] = horizon
	seeds["control"] = encode(t, spec{base: 9, attrs: batch.AttrControl | batch.AttrTransactional, pid: 4,
		recs: []kv{{key: []byte{0, 0, 0, 1}, value: []byte{0, 0, 0, 0, 0, 0}}}})
	producer := encode(t, spec{base: 0, codec: batch.CodecSnappy, pid: 4, seq: 8, gap: 2, recs: []kv{rec("k", "v"), rec("k", "w")}})
	seeds["producer"] = producer
	seeds["empty"] = batch.Empty(header(t, producer))
	seeds["log"] = bytes.Join([][]byte{seeds["batch-none"], seeds["horizon"], seeds["control"], seeds["batch-zstd"]}, nil)
	return seeds
}

// FuzzClean feeds stored bytes, taken as a run of batches, through
// OffsetMap.Add and then Cleaner.Clean. Invariants: neither panics; every
// error is classified (ErrCorrupt, ErrMapFull, or batch.ErrTooLarge); a
// batch Clean returns verifies, is exactly one batch, keeps the input's base
// and last offsets, and holds a subset of the input's records, each with its
// offset, key and value unchanged; a batch returned as is is the input.
func FuzzClean(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b, int64(5500), false)
		f.Add(b, int64(6000), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, now int64, keepLast bool) {
		m := NewOffsetMap(8, 1<<20)
		defer m.Close()
		_ = batch.Each(data, func(b []byte, _ batch.Header) error {
			if err := m.Add(b); err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrMapFull) && !errors.Is(err, batch.ErrTooLarge) {
				t.Fatalf("Add: unclassified error %v", err)
			}
			return nil
		})
		c := &Cleaner{Map: m, Now: now, DeleteRetentionMs: 1000, MaxDecompressed: 1 << 20,
			KeepLast: func(batch.Header) bool { return keepLast }, UpperBound: m.LatestOffset() + 1}
		defer c.Close()
		_ = batch.Each(data, func(b []byte, h batch.Header) error {
			in := bytes.Clone(b)
			out, err := c.Clean(b, h)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, batch.ErrTooLarge) {
					t.Fatalf("Clean: unclassified error %v", err)
				}
				return nil
			}
			if !bytes.Equal(b, in) {
				t.Fatal("Clean modified its input")
			}
			if out != nil {
				checkCleaned(t, in, out)
			}
			return nil
		})
	})
}

// checkCleaned checks FuzzClean's invariants for one cleaned batch.
func checkCleaned(t *testing.T, in, out []byte) {
	h, err := batch.Verify(in)
	if err != nil {
		t.Fatalf("Clean accepted a batch that does not verify: %v", err)
	}
	g, err := batch.Verify(out)
	if err != nil {
		t.Fatalf("cleaned batch does not verify: %v", err)
	}
	if len(out) != g.Size() || g.BaseOffset != h.BaseOffset || g.LastOffset() != h.LastOffset() {
		t.Fatalf("cleaned batch %+v from %+v", g, h)
	}
	if h.Control() {
		if !bytes.Equal(in, out) {
			t.Fatal("control batch changed")
		}
		return
	}
	before := map[int64]string{}
	if err := batch.EachRecord(in, 1<<20, func(r batch.Record) error {
		before[r.Offset] = fmt.Sprintf("%q=%q", r.Key, r.Value)
		return nil
	}); err != nil {
		t.Fatalf("Clean accepted records that do not decode: %v", err)
	}
	if err := batch.EachRecord(out, 1<<20, func(r batch.Record) error {
		if got, ok := before[r.Offset]; !ok || got != fmt.Sprintf("%q=%q", r.Key, r.Value) {
			t.Fatalf("record at %d: %q=%q, input had %q", r.Offset, r.Key, r.Value, got)
		}
		return nil
	}); err != nil {
		t.Fatalf("cleaned records do not decode: %v", err)
	}
}

// TestWriteFuzzSeeds rewrites the seed corpus of FuzzClean with -update.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("seeds are written with -update")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzClean")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range fuzzSeeds(t) {
		data := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\nint64(%d)\nbool(%v)\n", b, 5500, true)
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
