package coordinator

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/segment"
)

// flushEntries returns n entries as flushes write them: one per segment
// object, keyed as tiered keys objects, at growing positions.
func flushEntries(tp index.TopicPartition, n int) []segment.IndexEntry {
	entries := make([]segment.IndexEntry, n)
	for i := range entries {
		nanos := int64(1_764_680_000_000_000_000) + int64(i)*250_000_000
		entries[i] = segment.IndexEntry{
			Object:       fmt.Sprintf("segments/gw-1/2025-12-02/%020d-%016x.seg", nanos, uint64(i)*0x9e3779b97f4a7c15),
			TopicID:      tp.TopicID,
			Partition:    tp.Partition,
			BaseOffset:   int64(i) * 7,
			LastOffset:   int64(i)*7 + 6,
			MaxTimestamp: nanos / 1e6,
			Position:     int64(i%50) * 30_000,
			Length:       7 * 1090,
			Records:      7,
		}
	}
	return entries
}

func TestEntriesRoundTrip(t *testing.T) {
	tp := testTP([16]byte{0xfe, 7, 0xa0}, 31)
	gapped := testEntries(tp, 100, 5)
	gapped[2].BaseOffset, gapped[2].LastOffset = 200, 260
	gapped[3].BaseOffset, gapped[3].LastOffset = 261, 261
	gapped[4].BaseOffset, gapped[4].LastOffset = 400, 450
	gapped[1].MaxTimestamp = -1 // a batch without timestamps
	gapped[3].Object = gapped[2].Object
	gapped[4].Whole = true // a merged per-partition segment
	for name, entries := range map[string][]segment.IndexEntry{
		"none":   nil,
		"one":    testEntries(tp, 0, 1),
		"flush":  flushEntries(tp, maxTailEntries),
		"gapped": gapped,
	} {
		t.Run(name, func(t *testing.T) {
			data := appendEntries(nil, entries)
			got, err := decodeEntries(tp, data)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, entries) {
				t.Fatalf("decoded %+v, want %+v", got, entries)
			}
		})
		t.Run(name+"-v2", func(t *testing.T) {
			// Version 2 records had no flags: the same entries, each
			// without its trailing flags byte.
			if len(entries) > 0 && !slices.ContainsFunc(entries, func(e segment.IndexEntry) bool { return e.Whole }) {
				v2 := appendEntriesV2(entries)
				got, err := decodeEntriesVersion(tp, v2, 2)
				if err != nil || !slices.Equal(got, entries) {
					t.Fatalf("decoded %+v (%v), want %+v", got, err, entries)
				}
			}
		})
	}

	// What every flush rewrites: a full tail, compact against JSON.
	entries := flushEntries(tp, maxTailEntries)
	compact := len(appendEntries(nil, entries))
	verbose, err := json.Marshal(entries)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d entries: %d bytes compact (%d each), %d as JSON (%d each)",
		len(entries), compact, compact/len(entries), len(verbose), len(verbose)/len(entries))
	if compact*4 > len(verbose) {
		t.Fatalf("compact encoding %d bytes, JSON %d: not a quarter", compact, len(verbose))
	}
}

// TestReadsVersion1Records: heads and chunks written as JSON entries (record
// version 1) load as before, a commit on top of them rewrites the head in
// version 2, and a chunk already stored in version 1 is reused when the
// same entries are chunked again.
func TestReadsVersion1Records(t *testing.T) {
	s := openStore(t, testenv.NATS(t).JetStream(t), "strata")
	ctx := t.Context()
	tp := testTP([16]byte{21}, 2)
	all := testEntries(tp, 0, 300)
	chunked, tail := all[:200], all[200:]
	chunk := index.Chunk{Key: chunkKey(tp, chunked), Count: len(chunked), FirstOffset: 0, LastOffset: chunked[len(chunked)-1].LastOffset}
	v1chunk, _ := json.Marshal(chunkRecord{Version: 1, Entries: chunked})
	if _, err := s.chunks.Create(ctx, chunk.Key, v1chunk); err != nil {
		t.Fatal(err)
	}
	state := testPartition(tp, 0, 3)
	state.HighWatermark = 3000
	state.Chunks = []index.Chunk{chunk}
	v1head, _ := json.Marshal(partitionRecord{Version: 1, Partition: state, Tail: tail})
	if _, err := s.partitions.Create(ctx, partitionKey(tp), v1head); err != nil {
		t.Fatal(err)
	}

	got, rev, err := s.LoadPartition(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	want := state
	want.Entries = all
	if err := equalPartitions(got, want); err != nil {
		t.Fatalf("version 1 records: %v", err)
	}

	// Growing past the tail limit chunks the tail's entries anew.
	next := got
	next.Entries = append(next.Entries, testEntries(tp, 3000, 200)...)
	next.HighWatermark = 5000
	stored, _, err := s.CommitPartition(ctx, tp, next, rev)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.Chunks) < 2 || stored.Chunks[0] != chunk {
		t.Fatalf("chunks after growth: %+v; want the version 1 chunk first, then new ones", stored.Chunks)
	}
	e, err := s.partitions.Get(ctx, partitionKey(tp))
	if err != nil {
		t.Fatal(err)
	}
	var head struct{ V int }
	if err := json.Unmarshal(e.Value(), &head); err != nil || head.V != partitionRecordVersion {
		t.Fatalf("head rewritten as version %d (%v), want %d", head.V, err, partitionRecordVersion)
	}
	got, _, err = s.LoadPartition(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	if err := equalPartitions(withoutChunks(got), withoutChunks(next)); err != nil {
		t.Fatalf("after the commit: %v", err)
	}

	// The same 200 entries chunked again find the version 1 record.
	if c, err := s.writeChunk(ctx, tp, chunked); err != nil || c != chunk {
		t.Fatalf("rewriting a version 1 chunk: %+v, %v", c, err)
	}
}

// FuzzDecodeEntries: decoding arbitrary bytes never panics, and what decodes
// encodes back to bytes that decode the same.
func FuzzDecodeEntries(f *testing.F) {
	tp := testTP([16]byte{1}, 1)
	f.Add(appendEntries(nil, flushEntries(tp, 3)))
	f.Add(appendEntries(nil, testEntries(tp, 5, 2)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := decodeEntries(tp, b)
		if err != nil {
			return
		}
		again, err := decodeEntries(tp, appendEntries(nil, entries))
		if err != nil || !slices.Equal(again, entries) {
			t.Fatalf("re-encoded %+v decodes to %+v, %v", entries, again, err)
		}
	})
}

// appendEntriesV2 writes entries as version 2 records held them: the
// version 3 encoding without each entry's trailing flags (one byte, 0).
func appendEntriesV2(entries []segment.IndexEntry) []byte {
	full := appendEntries(nil, entries)
	d := entryDecoder{b: full}
	out := binary.AppendUvarint(nil, d.uvarint())
	for range entries {
		start := len(full) - len(d.b)
		d.uvarint() // shared prefix
		d.b = d.b[d.uvarint():]
		for range 6 {
			d.varint()
		}
		end := len(full) - len(d.b)
		out = append(out, full[start:end]...)
		d.uvarint() // the flags
	}
	return out
}
