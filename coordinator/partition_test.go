package coordinator

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/segment"
)

func testTP(id [16]byte, partition int32) index.TopicPartition {
	return index.TopicPartition{TopicID: id, Partition: partition}
}

// testEntries returns n index entries of tp, ten offsets each, starting at
// offset base.
func testEntries(tp index.TopicPartition, base int64, n int) []segment.IndexEntry {
	entries := make([]segment.IndexEntry, n)
	for i := range entries {
		off := base + int64(i)*10
		entries[i] = segment.IndexEntry{
			Object:       fmt.Sprintf("segments/%020d.seg", off/100),
			TopicID:      tp.TopicID,
			Partition:    tp.Partition,
			BaseOffset:   off,
			LastOffset:   off + 9,
			MaxTimestamp: 1_700_000_000_000 + off,
			Position:     (off % 100) * 1000,
			Length:       1000,
			Records:      10,
		}
	}
	return entries
}

// testPartition returns a partition state with n entries from offset 0 and
// some idempotent producers.
func testPartition(tp index.TopicPartition, n int, epoch int32) index.Partition {
	entries := testEntries(tp, 0, n)
	return index.Partition{
		LeaderEpoch:    epoch,
		LogStartOffset: 0,
		HighWatermark:  int64(n) * 10,
		Entries:        entries,
		Producers: map[int64]index.Producer{
			1000: {Epoch: 1, LastTimestamp: 42, Batches: []index.ProducerBatch{{FirstSequence: 0, LastSequence: 4, BaseOffset: 0, LastOffset: 4}}},
			1001: {Epoch: 0, LastTimestamp: 43, Batches: []index.ProducerBatch{{FirstSequence: 5, LastSequence: 9, BaseOffset: 5, LastOffset: 9}}},
		},
	}
}

// equalPartitions compares exactly, with reflect.DeepEqual, and says where
// they differ.
func equalPartitions(got, want index.Partition) error {
	if reflect.DeepEqual(got, want) {
		return nil
	}
	if len(got.Entries) != len(want.Entries) {
		return fmt.Errorf("%d entries, want %d", len(got.Entries), len(want.Entries))
	}
	for i := range got.Entries {
		if got.Entries[i] != want.Entries[i] {
			return fmt.Errorf("entry %d = %+v, want %+v", i, got.Entries[i], want.Entries[i])
		}
	}
	got.Entries, want.Entries = nil, nil
	return fmt.Errorf("got %+v, want %+v", got, want)
}

func chunkCounts(p index.Partition) []int {
	var counts []int
	for _, c := range p.Chunks {
		counts = append(counts, c.Count)
	}
	return counts
}

func TestCommitPartitionConflictAndFencing(t *testing.T) {
	s := openStore(t, testenv.NATS(t).JetStream(t), "strata")
	ctx := t.Context()
	tp := testTP([16]byte{1}, 0)

	p, rev, err := s.LoadPartition(ctx, tp)
	if err != nil || rev != 0 || !reflect.DeepEqual(p, index.Partition{}) {
		t.Fatalf("LoadPartition of a new partition = %+v, %d, %v", p, rev, err)
	}
	state := testPartition(tp, 3, 5)
	stored, rev1, err := s.CommitPartition(ctx, tp, state, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CommitPartition(ctx, tp, state, 0); !errors.Is(err, ErrConflict) {
		t.Errorf("second create = %v, want ErrConflict", err)
	}

	next := stored
	next.Entries = append(next.Entries[:len(next.Entries):len(next.Entries)], testEntries(tp, 30, 1)...)
	next.HighWatermark = 40
	_, rev2, err := s.CommitPartition(ctx, tp, next, rev1)
	if err != nil {
		t.Fatal(err)
	}
	// A writer still on rev1 loses.
	if _, _, err := s.CommitPartition(ctx, tp, next, rev1); !errors.Is(err, ErrConflict) {
		t.Errorf("commit on a stale revision = %v, want ErrConflict", err)
	}
	// A newer leader takes over at epoch 6.
	next.LeaderEpoch = 6
	_, rev3, err := s.CommitPartition(ctx, tp, next, rev2)
	if err != nil {
		t.Fatal(err)
	}
	// The old leader, even on the current revision, is fenced.
	old := next
	old.LeaderEpoch = 5
	if _, _, err := s.CommitPartition(ctx, tp, old, rev3); !errors.Is(err, ErrFenced) {
		t.Errorf("commit at a lower epoch = %v, want ErrFenced", err)
	}
	// ... and on a stale revision too: fencing is reported first.
	if _, _, err := s.CommitPartition(ctx, tp, old, rev1); !errors.Is(err, ErrFenced) {
		t.Errorf("stale commit at a lower epoch = %v, want ErrFenced", err)
	}
	got, rev, err := s.LoadPartition(ctx, tp)
	if err != nil || rev != rev3 {
		t.Fatalf("LoadPartition = rev %d, %v; want rev %d", rev, err, rev3)
	}
	if err := equalPartitions(got, next); err != nil {
		t.Error(err)
	}
}

func TestCommitPartitionInvalidIndex(t *testing.T) {
	s := openStore(t, testenv.NATS(t).JetStream(t), "strata")
	tp := testTP([16]byte{2}, 1)
	for name, mutate := range map[string]func([]segment.IndexEntry){
		"overlap":         func(e []segment.IndexEntry) { e[1].BaseOffset = e[0].LastOffset },
		"out of order":    func(e []segment.IndexEntry) { e[0], e[1] = e[1], e[0] },
		"backwards":       func(e []segment.IndexEntry) { e[0].LastOffset = e[0].BaseOffset - 1 },
		"other partition": func(e []segment.IndexEntry) { e[1].Partition = 2 },
		"other topic":     func(e []segment.IndexEntry) { e[1].TopicID[0] = 9 },
		"no object":       func(e []segment.IndexEntry) { e[1].Object = "" },
	} {
		t.Run(name, func(t *testing.T) {
			p := testPartition(tp, 3, 0)
			mutate(p.Entries)
			if _, _, err := s.CommitPartition(t.Context(), tp, p, 0); !errors.Is(err, ErrInvalidIndex) {
				t.Errorf("CommitPartition = %v, want ErrInvalidIndex", err)
			}
		})
	}
}

// TestChunkingRoundTrip commits an index of over a thousand entries, grows
// it one flush at a time, trims its front and rewrites its middle, and checks
// that every load returns exactly what was committed.
func TestChunkingRoundTrip(t *testing.T) {
	s := openStore(t, testenv.NATS(t).JetStream(t), "strata")
	ctx := t.Context()
	tp := testTP([16]byte{3, 3}, 7)

	commit := func(p index.Partition, rev uint64) (index.Partition, uint64) {
		t.Helper()
		stored, newRev, err := s.CommitPartition(ctx, tp, p, rev)
		if err != nil {
			t.Fatalf("commit: %v", err)
		}
		loaded, loadedRev, err := s.LoadPartition(ctx, tp)
		if err != nil {
			t.Fatalf("load: %v", err)
		}
		if loadedRev != newRev {
			t.Fatalf("loaded revision %d, committed %d", loadedRev, newRev)
		}
		if err := equalPartitions(loaded, stored); err != nil {
			t.Fatalf("loaded != committed: %v", err)
		}
		if err := equalPartitions(withoutChunks(loaded), withoutChunks(p)); err != nil {
			t.Fatalf("loaded != what was passed: %v", err)
		}
		return loaded, newRev
	}

	// 1100 entries in one commit: four full chunks and a tail of 76.
	p, rev := commit(testPartition(tp, 1100, 1), 0)
	if got, want := chunkCounts(p), []int{256, 256, 256, 256}; !reflect.DeepEqual(got, want) {
		t.Fatalf("chunks %v, want %v", got, want)
	}
	firstChunks := p.Chunks

	// Grow by flushes of up to 20 entries until the tail passes its limit
	// (76+181 > 256): the old chunks are reused and one new chunk of 256
	// appears.
	for added := 0; added < 181; {
		n := min(20, 181-added)
		p.Entries = append(p.Entries, testEntries(tp, p.HighWatermark, n)...)
		p.HighWatermark += int64(n) * 10
		added += n
		p, rev = commit(p, rev)
		if added < 181 && len(p.Chunks) != 4 {
			t.Fatalf("chunk written early, with %d entries added", added)
		}
	}
	if got, want := chunkCounts(p), []int{256, 256, 256, 256, 256}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after growth: chunks %v, want %v", got, want)
	}
	if !reflect.DeepEqual(p.Chunks[:4], firstChunks) {
		t.Fatal("growth rewrote existing chunks")
	}
	if n := len(p.Entries) - 5*256; n != 1281-1280 {
		t.Fatalf("tail of %d entries", n)
	}

	// Retention drops the first 100 entries: only the first chunk is
	// rewritten (as one chunk of the remaining 156).
	p.Entries = p.Entries[100:]
	p.LogStartOffset = p.Entries[0].BaseOffset
	p, rev = commit(p, rev)
	if got, want := chunkCounts(p), []int{156, 256, 256, 256, 256}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after trim: chunks %v, want %v", got, want)
	}
	if !reflect.DeepEqual(p.Chunks[1:4], firstChunks[1:]) {
		t.Fatal("trim rewrote untouched chunks")
	}

	// Compaction rewrites entries in the third chunk into new objects with
	// the same offsets: that chunk must be replaced, not reused.
	p.Entries = append([]segment.IndexEntry(nil), p.Entries...)
	for i := 156 + 256; i < 156+256+10; i++ {
		p.Entries[i].Object = "compacted/0001.seg"
	}
	p, _ = commit(p, rev)
	if p.Chunks[2].Key == firstChunks[2].Key {
		t.Fatal("chunk with rewritten entries was reused")
	}
	if p.Chunks[1] != firstChunks[1] || p.Chunks[3] != firstChunks[3] {
		t.Fatal("compaction rewrote untouched chunks")
	}
}

func withoutChunks(p index.Partition) index.Partition {
	p.Chunks = nil
	return p
}

// TestChunkWriteIdempotent checks that a chunk written again with the same
// content (a commit retried after a crash) is accepted, and that a head whose
// chunk vanished reports corruption instead of returning a short index.
func TestChunkWriteIdempotent(t *testing.T) {
	s := openStore(t, testenv.NATS(t).JetStream(t), "strata")
	ctx := t.Context()
	tp := testTP([16]byte{4}, 0)
	entries := testEntries(tp, 0, 10)
	c1, err := s.writeChunk(ctx, tp, entries)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := s.writeChunk(ctx, tp, entries)
	if err != nil || c1 != c2 {
		t.Fatalf("rewrite = %+v, %v; want %+v", c2, err, c1)
	}

	stored, _, err := s.CommitPartition(ctx, tp, testPartition(tp, 600, 0), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.chunks.Purge(ctx, stored.Chunks[1].Key); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LoadPartition(ctx, tp); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("load with a missing chunk = %v, want ErrCorrupt", err)
	}
}

func TestCommitPartitionTooLarge(t *testing.T) {
	s := openStore(t, testenv.NATS(t).JetStream(t), "strata")
	tp := testTP([16]byte{5}, 0)
	p := testPartition(tp, 1, 0)
	batches := make([]index.ProducerBatch, index.MaxProducerBatches)
	for id := range int64(2000) {
		p.Producers[id] = index.Producer{Batches: batches}
	}
	if _, _, err := s.CommitPartition(t.Context(), tp, p, 0); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("CommitPartition = %v, want ErrTooLarge", err)
	}
}

// TestLoadPartitions: reading many partitions at once gives what
// LoadPartition gives each, in the order asked, across topics: a partition
// with chunks, one with only a head, one never written, one whose record
// was deleted, and a partition of a topic that has none.
func TestLoadPartitions(t *testing.T) {
	s := openStore(t, testenv.NATS(t).JetStream(t), "strata")
	ctx := t.Context()
	wide, other, empty := [16]byte{5, 1}, [16]byte{5, 2}, [16]byte{5, 3}

	var tps []index.TopicPartition
	for p := range int32(40) {
		tp := testTP(wide, p)
		tps = append(tps, tp)
		if p%4 == 3 {
			continue // never written
		}
		n := 2
		if p%4 == 0 {
			n = 600 // chunked
		}
		if _, _, err := s.CommitPartition(ctx, tp, testPartition(tp, n, p+1), 0); err != nil {
			t.Fatal(err)
		}
	}
	deleted := testTP(wide, 41)
	if _, _, err := s.CommitPartition(ctx, deleted, testPartition(deleted, 1, 1), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.partitions.Delete(ctx, partitionKey(deleted)); err != nil {
		t.Fatal(err)
	}
	otherTP := testTP(other, 0)
	if _, _, err := s.CommitPartition(ctx, otherTP, testPartition(otherTP, 3, 9), 0); err != nil {
		t.Fatal(err)
	}
	// Out of order, across the three topics.
	tps = append([]index.TopicPartition{otherTP, deleted, testTP(empty, 0)}, tps...)
	tps[3], tps[len(tps)-1] = tps[len(tps)-1], tps[3]

	states, revs, err := s.LoadPartitions(ctx, tps)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != len(tps) || len(revs) != len(tps) {
		t.Fatalf("%d states and %d revisions for %d partitions", len(states), len(revs), len(tps))
	}
	chunked := 0
	for i, tp := range tps {
		want, wantRev, err := s.LoadPartition(ctx, tp)
		if err != nil {
			t.Fatal(err)
		}
		if revs[i] != wantRev {
			t.Errorf("%x/%d: revision %d, LoadPartition's %d", tp.TopicID[:2], tp.Partition, revs[i], wantRev)
		}
		if err := equalPartitions(states[i], want); err != nil {
			t.Errorf("%x/%d: %v", tp.TopicID[:2], tp.Partition, err)
		}
		if len(want.Chunks) > 0 {
			chunked++
		}
	}
	if chunked != 10 {
		t.Fatalf("%d chunked partitions, want 10", chunked)
	}
	if _, rev, _ := s.LoadPartition(ctx, deleted); rev != 0 {
		t.Fatalf("the deleted partition loads at revision %d", rev)
	}
}
