package compact

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stratalog/strata/tiered/batch"
)

// now is the cleaning time of the tests, DeleteRetentionMs their
// delete.retention.ms.
const (
	now         = baseTime + 1_000_000
	deleteRetMs = 86_400_000
)

// buildMap adds every batch of log to a new map.
func buildMap(t testing.TB, log [][]byte) *OffsetMap {
	t.Helper()
	m := NewOffsetMap(1<<20, 0)
	t.Cleanup(m.Close)
	for _, b := range log {
		if b != nil {
			add(t, m, b)
		}
	}
	return m
}

// cleanLog builds a map over log, cleans every batch with c (setting c.Map)
// and returns the outputs (nil for a dropped batch), checking what every
// cleaned batch must satisfy: it verifies, is one batch, and keeps the
// input's offsets, codec (unless empty), producer and flags.
func cleanLog(t testing.TB, c *Cleaner, log [][]byte) [][]byte {
	t.Helper()
	c.Map = buildMap(t, log)
	out := make([][]byte, len(log))
	for i, b := range log {
		if b == nil {
			continue
		}
		h := header(t, b)
		got, err := c.Clean(b, h)
		if err != nil {
			t.Fatalf("Clean batch %d: %v", i, err)
		}
		if got == nil {
			continue
		}
		out[i] = got
		g := header(t, got)
		const flags = batch.AttrTransactional | batch.AttrControl | batch.AttrLogAppendTime
		switch {
		case len(got) != g.Size():
			t.Fatalf("batch %d: %d bytes after the cleaned batch", i, len(got)-g.Size())
		case g.BaseOffset != h.BaseOffset || g.LastOffset() != h.LastOffset():
			t.Fatalf("batch %d: offsets %d-%d became %d-%d", i, h.BaseOffset, h.LastOffset(), g.BaseOffset, g.LastOffset())
		case g.NumRecords > 0 && g.Compression() != h.Compression():
			t.Fatalf("batch %d: codec %v became %v", i, h.Compression(), g.Compression())
		case g.ProducerID != h.ProducerID || g.ProducerEpoch != h.ProducerEpoch || g.BaseSequence != h.BaseSequence ||
			g.PartitionLeaderEpoch != h.PartitionLeaderEpoch || g.Attributes&flags != h.Attributes&flags:
			t.Fatalf("batch %d: header %+v became %+v", i, h, g)
		}
	}
	return out
}

// survivors returns "key@offset=value" for every record of the batches.
func survivors(t testing.TB, bs [][]byte) []string {
	t.Helper()
	var out []string
	for _, b := range bs {
		if b == nil {
			continue
		}
		for _, r := range records(t, b) {
			out = append(out, show(r))
		}
	}
	return out
}

func show(r batch.Record) string {
	v := string(r.Value)
	if r.Value == nil {
		v = "<nil>"
	}
	return fmt.Sprintf("%s@%d=%s", r.Key, r.Offset, v)
}

func TestCleanKeepsLatestPerKey(t *testing.T) {
	for ci := range codecs {
		// Batch i uses codec ci+i, so each run mixes codecs.
		codec := func(i int) batch.Codec { return codecs[(ci+i)%len(codecs)] }
		t.Run(codec(0).String(), func(t *testing.T) {
			log := [][]byte{
				encode(t, spec{base: 0, codec: codec(0), recs: []kv{rec("a", "1"), rec("b", "1"), rec("c", "1"), rec("<nil>", "x")}}),
				encode(t, spec{base: 4, codec: codec(1), recs: []kv{rec("a", "2"), rec("d", "1"), rec("b", "2")}}),
				encode(t, spec{base: 7, codec: codec(2), recs: []kv{rec("c", "2"), rec("e", "1")}}),
				encode(t, spec{base: 9, codec: codec(3), recs: []kv{rec("a", "3")}}),
			}
			c := &Cleaner{Now: now, DeleteRetentionMs: deleteRetMs}
			defer c.Close()
			out := cleanLog(t, c, log)
			want := []string{"d@5=1", "b@6=2", "c@7=2", "e@8=1", "a@9=3"}
			if got := survivors(t, out); !slices.Equal(got, want) {
				t.Fatalf("survivors %v, want %v", got, want)
			}
			if out[0] != nil {
				t.Fatalf("batch 0 kept: %+v", header(t, out[0]))
			}
			for _, i := range []int{2, 3} {
				if !bytes.Equal(out[i], log[i]) {
					t.Fatalf("batch %d: all its records survive, but it was re-encoded", i)
				}
			}
			want2 := Stats{
				Batches: 4, BatchesUnchanged: 2, BatchesRewritten: 1, BatchesDropped: 1,
				Records: 10, RecordsKept: 5, RecordsRemoved: 5, NullKeysRemoved: 1, NextHorizon: -1,
			}
			if got := c.Stats(); got != want2 {
				t.Fatalf("stats %+v, want %+v", got, want2)
			}
		})
	}
}

// TestCleanModel cleans random logs and compares the survivors with a model:
// exactly the latest record of each non-null key, at its original offset.
func TestCleanModel(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			var (
				log    [][]byte
				latest = map[string]string{}
				off    int64
			)
			for range 1 + rng.IntN(30) {
				s := spec{base: off, codec: codecs[rng.IntN(len(codecs))], gap: int64(rng.IntN(2))}
				for range 1 + rng.IntN(8) {
					r := rec(fmt.Sprintf("k%d", rng.IntN(12)), fmt.Sprintf("v%d", off))
					switch rng.IntN(10) {
					case 0:
						r.key = nil
					case 1:
						r.value = nil
					}
					if r.key != nil {
						latest[string(r.key)] = show(batch.Record{Key: r.key, Value: r.value, Offset: off})
					}
					s.recs = append(s.recs, r)
					off += s.gap + 1
				}
				log = append(log, encode(t, s))
			}
			var want []string
			for _, s := range latest {
				want = append(want, s)
			}
			c := &Cleaner{Now: now, DeleteRetentionMs: deleteRetMs}
			defer c.Close()
			out := cleanLog(t, c, log)
			got := survivors(t, out)
			if slices.Sort(want); !slices.Equal(slices.Sorted(slices.Values(got)), want) {
				t.Fatalf("survivors %v, want %v", got, want)
			}
			st := c.Stats()
			if st.RecordsKept != int64(len(want)) || st.RecordsKept+st.RecordsRemoved != st.Records ||
				st.Batches != int64(len(log)) ||
				st.BatchesUnchanged+st.BatchesRewritten+st.BatchesDropped+st.BatchesEmptied != st.Batches {
				t.Fatalf("stats %+v for %d survivors of %d batches", st, len(want), len(log))
			}
		})
	}
}

func TestCleanTombstones(t *testing.T) {
	for _, codec := range codecs {
		t.Run(codec.String(), func(t *testing.T) {
			log := [][]byte{
				encode(t, spec{base: 0, codec: codec, recs: []kv{rec("a", "1"), rec("b", "1")}}),
				encode(t, spec{base: 2, codec: codec, recs: []kv{rec("a", "<nil>"), rec("c", "1"), rec("b", "<nil>")}}),
				encode(t, spec{base: 5, codec: codec, recs: []kv{rec("b", "2")}}),
			}
			// First cleaning: the tombstone of b is superseded and goes;
			// the tombstone of a stays, and its batch gets a horizon.
			c1 := &Cleaner{Now: now, DeleteRetentionMs: deleteRetMs}
			out1 := cleanLog(t, c1, log)
			if got, want := survivors(t, out1), []string{"a@2=<nil>", "c@3=1", "b@5=2"}; !slices.Equal(got, want) {
				t.Fatalf("first cleaning: survivors %v, want %v", got, want)
			}
			horizon := int64(now + deleteRetMs)
			h := header(t, out1[1])
			if !h.DeleteHorizon() || h.FirstTimestamp != horizon {
				t.Fatalf("first cleaning: horizon %v at %d, want %d", h.DeleteHorizon(), h.FirstTimestamp, horizon)
			}
			for _, r := range records(t, out1[1]) {
				if r.Timestamp != baseTime+r.Offset*1000 {
					t.Fatalf("record %s: timestamp %d, want %d", show(r), r.Timestamp, baseTime+r.Offset*1000)
				}
			}
			if s := c1.Stats(); s.TombstonesKept != 1 || s.TombstonesRemoved != 1 || s.NextHorizon != horizon {
				t.Fatalf("first cleaning: stats %+v", s)
			}

			// Before the horizon the tombstone stays and nothing changes.
			c2 := &Cleaner{Now: horizon - 1, DeleteRetentionMs: deleteRetMs}
			out2 := cleanLog(t, c2, out1)
			for i := range out1 {
				if !bytes.Equal(out2[i], out1[i]) {
					t.Fatalf("second cleaning changed batch %d", i)
				}
			}
			if s := c2.Stats(); s.TombstonesKept != 1 || s.NextHorizon != horizon || s.BatchesUnchanged != 2 {
				t.Fatalf("second cleaning: stats %+v", s)
			}

			// At the horizon the tombstone goes; the batch keeps its
			// horizon, as Kafka's filterTo keeps deleteHorizonMs.
			c3 := &Cleaner{Now: horizon, DeleteRetentionMs: deleteRetMs}
			out3 := cleanLog(t, c3, out2)
			if got, want := survivors(t, out3), []string{"c@3=1", "b@5=2"}; !slices.Equal(got, want) {
				t.Fatalf("third cleaning: survivors %v, want %v", got, want)
			}
			if h := header(t, out3[1]); !h.DeleteHorizon() || h.FirstTimestamp != horizon || h.LastOffset() != 4 {
				t.Fatalf("third cleaning: header %+v", h)
			}
			if s := c3.Stats(); s.TombstonesRemoved != 1 || s.TombstonesKept != 0 || s.NextHorizon != -1 {
				t.Fatalf("third cleaning: stats %+v", s)
			}
		})
	}
}

func TestCleanNullKeys(t *testing.T) {
	b := encode(t, spec{base: 0, recs: []kv{rec("<nil>", "x"), rec("a", "1")}})
	c := &Cleaner{Now: now, DeleteRetentionMs: deleteRetMs}
	out := cleanLog(t, c, [][]byte{b})
	if got, want := survivors(t, out), []string{"a@1=1"}; !slices.Equal(got, want) {
		t.Fatalf("survivors %v, want %v", got, want)
	}
	// Past the map's range nothing is removed, null keys included, as
	// Kafka's shouldRetainRecord keeps everything past map.latestOffset.
	past := encode(t, spec{base: 2, recs: []kv{rec("<nil>", "y"), rec("a", "2")}})
	got, err := c.Clean(past, header(t, past))
	if err != nil || !bytes.Equal(got, past) {
		t.Fatalf("Clean past the map: %v, changed %v", err, !bytes.Equal(got, past))
	}
}

// TestCleanKeepsEmpty checks which batches left without records stay as
// empty batches (Kafka's BatchRetention.RETAIN_EMPTY).
func TestCleanKeepsEmpty(t *testing.T) {
	yes := func(batch.Header) bool { return true }
	no := func(batch.Header) bool { return false }
	for _, tc := range []struct {
		name       string
		pid        int64
		attrs      int16
		keepLast   func(batch.Header) bool
		upperBound int64
		empty      bool
	}{
		{"producer's last batch", 7, 0, yes, 0, true},
		{"producer's last transactional batch", 7, batch.AttrTransactional, yes, 0, true},
		{"producer's earlier batch", 7, 0, no, 0, false},
		{"producer without KeepLast", 7, 0, nil, 0, false},
		{"no producer", 0, 0, func(batch.Header) bool { panic("asked about a batch without a producer") }, 0, false},
		{"round's last batch", 0, 0, nil, 2, true},
		{"not the round's last batch", 0, 0, nil, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, codec := range codecs {
				b := encode(t, spec{base: 0, codec: codec, pid: tc.pid, seq: 10, attrs: tc.attrs, recs: []kv{rec("a", "1"), rec("b", "1")}})
				later := encode(t, spec{base: 2, recs: []kv{rec("a", "2"), rec("b", "2")}})
				c := &Cleaner{Now: now, DeleteRetentionMs: deleteRetMs, KeepLast: tc.keepLast, UpperBound: tc.upperBound}
				out := cleanLog(t, c, [][]byte{b, later})
				if !tc.empty {
					if out[0] != nil {
						t.Fatalf("%v: kept %+v", codec, header(t, out[0]))
					}
					continue
				}
				h, g := header(t, b), header(t, out[0])
				want := batch.Header{
					BaseOffset: 0, Length: batch.HeaderSize - 12, PartitionLeaderEpoch: 5, Magic: 2, CRC: g.CRC,
					Attributes: tc.attrs, LastOffsetDelta: 1, FirstTimestamp: -1, MaxTimestamp: h.MaxTimestamp,
					ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, BaseSequence: h.BaseSequence,
				}
				if g != want {
					t.Fatalf("%v: empty batch %+v, want %+v", codec, g, want)
				}
				if s := c.Stats(); s.BatchesEmptied != 1 || s.RecordsRemoved != 2 {
					t.Fatalf("%v: stats %+v", codec, s)
				}
			}
		})
	}
}

// TestCleanRewriteKeepsHeader checks that a rewritten batch keeps the
// producer, flags, append time and the original last offset delta (Kafka's
// overrideLastOffset) when its last record goes.
func TestCleanRewriteKeepsHeader(t *testing.T) {
	for _, codec := range codecs {
		t.Run(codec.String(), func(t *testing.T) {
			b := encode(t, spec{base: 10, codec: codec, pid: 7, seq: 3, gap: 1,
				attrs: batch.AttrTransactional | batch.AttrLogAppendTime,
				recs:  []kv{rec("a", "1"), rec("b", "1"), rec("c", "1")}})
			later := encode(t, spec{base: 20, recs: []kv{rec("c", "2")}})
			c := &Cleaner{Now: now, DeleteRetentionMs: deleteRetMs}
			out := cleanLog(t, c, [][]byte{b, later})
			if got, want := survivors(t, out[:1]), []string{"a@10=1", "b@12=1"}; !slices.Equal(got, want) {
				t.Fatalf("survivors %v, want %v", got, want)
			}
			h, g := header(t, b), header(t, out[0])
			if g.LastOffsetDelta != 4 || g.MaxTimestamp != h.MaxTimestamp || g.NumRecords != 2 {
				t.Fatalf("rewritten header %+v, from %+v", g, h)
			}
			for _, r := range records(t, out[0]) {
				if r.Timestamp != h.MaxTimestamp {
					t.Fatalf("record %s: timestamp %d, want the append time %d", show(r), r.Timestamp, h.MaxTimestamp)
				}
			}
		})
	}
}

func TestCleanControlBatch(t *testing.T) {
	ctl := encode(t, spec{base: 3, attrs: batch.AttrControl | batch.AttrTransactional, pid: 9,
		recs: []kv{{key: []byte{0, 0, 0, 0}, value: []byte{0, 0, 0, 0, 0, 0}}}})
	data := encode(t, spec{base: 0, pid: 9, attrs: batch.AttrTransactional, recs: []kv{rec("a", "1"), rec("a", "2"), rec("b", "<nil>")}})
	c := &Cleaner{Now: now, DeleteRetentionMs: deleteRetMs}
	out := cleanLog(t, c, [][]byte{data, ctl})
	if &out[1][0] != &ctl[0] || len(out[1]) != len(ctl) {
		t.Fatal("control batch not returned as is")
	}
	if s := c.Stats(); s.BatchesUnchanged != 1 || s.BatchesRewritten != 1 || s.RecordsKept != 3 {
		t.Fatalf("stats %+v", s)
	}
}

func TestCleanErrors(t *testing.T) {
	good := encode(t, spec{base: 0, codec: batch.CodecLZ4, recs: []kv{rec("a", "1")}})
	flipped := bytes.Clone(good)
	flipped[batch.HeaderSize+2] ^= 1
	m := buildMap(t, [][]byte{good})
	for _, tc := range []struct {
		name string
		c    *Cleaner
		b    []byte
		want []error
	}{
		{"crc", &Cleaner{Map: m}, flipped, []error{ErrCorrupt, batch.ErrCorrupt}},
		{"trailing bytes", &Cleaner{Map: m}, append(bytes.Clone(good), 0), []error{ErrCorrupt}},
		{"truncated", &Cleaner{Map: m}, good[:40], []error{ErrCorrupt, batch.ErrTruncated}},
		{"too large", &Cleaner{Map: m, MaxDecompressed: 2}, good, []error{batch.ErrTooLarge}},
		{"no map", &Cleaner{}, good, []error{ErrInvalid}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := batch.ReadHeader(tc.b)
			out, err := tc.c.Clean(tc.b, h)
			if out != nil {
				t.Fatalf("Clean returned %d bytes with %v", len(out), err)
			}
			for _, want := range tc.want {
				if !errors.Is(err, want) {
					t.Fatalf("Clean: %v, want %v", err, want)
				}
			}
		})
	}
}
