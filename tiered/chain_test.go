package tiered

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/wal"
)

// newUnflushedChainLog is newUnflushedLog appending to a writer chain.
func (e env) newUnflushedChainLog(t *testing.T, w WAL, nodeID string) *Log {
	t.Helper()
	l, err := New(Config{Bucket: e.bucket, Index: e.store, WAL: w, NodeID: nodeID, WALChains: true})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// onChainOf returns the first partition of tp's topic after tp that l
// appends to tp's chain.
func onChainOf(l *Log, tp index.TopicPartition) index.TopicPartition {
	other := tp
	for other.Partition++; l.writer.ChainOf(walPartition(other)) != l.writer.ChainOf(walPartition(tp)); other.Partition++ {
	}
	return other
}

// chainRecords returns the records of tp on the chain l appends tp to.
func chainRecords(t *testing.T, w WAL, l *Log, tp index.TopicPartition) []wal.Record {
	t.Helper()
	wp := walPartition(tp)
	var got []wal.Record
	if _, err := w.ReplayChain(t.Context(), l.writer.ChainOf(wp), w.Shard(wp), 0, func(_ uint64, e wal.Entry) error {
		if e.Partition == wp {
			got = append(got, e.Record)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestChainFencesDeposedLeader: with writer chains a claim fences the
// previous leader at once: its next append of the partition fails, though
// the new leader has appended nothing, while its appends of its other
// partitions go on; the new leader holds exactly what the old one had
// acknowledged.
func TestChainFencesDeposedLeader(t *testing.T) {
	e := newEnv(t)
	w := e.openWAL(t)
	tp, kept := index.TopicPartition{TopicID: [16]byte{7}, Partition: 0}, index.TopicPartition{TopicID: [16]byte{7}, Partition: 1}
	old := e.newUnflushedChainLog(t, w, "a")
	for _, p := range []index.TopicPartition{tp, kept} {
		if _, err := appendWait(t, old, p, testBatch(t, 1)); err != nil {
			t.Fatal(err)
		}
	}
	leader := e.newUnflushedChainLog(t, w, "b")
	if o, err := leader.Offsets(t.Context(), tp); err != nil || o.HighWatermark != 1 {
		t.Fatalf("new leader's high watermark %d (%v), want 1", o.HighWatermark, err)
	}
	if _, err := appendWait(t, old, tp, testBatch(t, 1)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("deposed leader's append: %v, want ErrNotLeader", err)
	}
	if off, err := appendWait(t, old, kept, testBatch(t, 1)); err != nil || off != 1 {
		t.Fatalf("the deposed leader's append to a partition it still leads: %d, %v; want 1", off, err)
	}
	if off, err := appendWait(t, leader, tp, testBatch(t, 1)); err != nil || off != 1 {
		t.Fatalf("new leader's append: %d, %v; want 1", off, err)
	}
	if got, hw := readOffsets(t, leader.Read, tp); !equal(got, []int64{0, 0, 1, 1}) || hw != 2 {
		t.Fatalf("log: %v hw %d; want offsets 0, 1", got, hw)
	}
	// The old writer's chain holds its one acknowledged record of tp; the
	// new leader's chain holds that record, moved there, and its own.
	if got := chainRecords(t, w, old, tp); len(got) != 1 {
		t.Fatalf("the deposed writer's chain holds %d records of the partition, want 1", len(got))
	}
	if got := chainRecords(t, w, leader, tp); len(got) != 2 || got[0].BaseOffset != 0 || got[1].BaseOffset != 1 {
		t.Fatalf("the new leader's chain holds %+v, want offsets 0 and 1", got)
	}
	if st, _, err := e.store.LoadPartition(t.Context(), tp); err != nil || st.WALWriter != leader.writer.ChainOf(walPartition(tp)) {
		t.Fatalf("the index names chain %q (%v), want the new leader's %q", st.WALWriter, err, leader.writer.ChainOf(walPartition(tp)))
	}
}

// TestChainUpgradeFromPartitionSubjects: a leader on writer chains takes
// over a tail a leader without them wrote on the partition's own subject,
// fences that leader there, and moves the tail to its chain; a third leader,
// after the second died unflushed, finds all of it in the second's chain.
func TestChainUpgradeFromPartitionSubjects(t *testing.T) {
	e := newEnv(t)
	w := e.openWAL(t)
	tp := index.TopicPartition{TopicID: [16]byte{8}, Partition: 3}
	legacy := e.newUnflushedLog(t, w, "a")
	for i := range 2 {
		if off, err := appendWait(t, legacy, tp, testBatch(t, 2)); err != nil || off != int64(2*i) {
			t.Fatalf("append %d without chains: %d, %v", i, off, err)
		}
	}
	chained := e.newUnflushedChainLog(t, w, "b")
	if off, err := appendWait(t, chained, tp, testBatch(t, 2)); err != nil || off != 4 {
		t.Fatalf("first append on a chain: %d, %v; want 4", off, err)
	}
	if _, err := appendWait(t, legacy, tp, testBatch(t, 1)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("the leader without chains after the takeover: %v, want ErrNotLeader", err)
	}
	third := e.startLog(t, Config{WAL: w, NodeID: "c", WALChains: true})
	if off, err := appendWait(t, third, tp, testBatch(t, 1)); err != nil || off != 6 {
		t.Fatalf("third leader's append: %d, %v; want 6", off, err)
	}
	if got, hw := readOffsets(t, third.Read, tp); !equal(got, []int64{0, 1, 2, 3, 4, 5, 6, 6}) || hw != 7 {
		t.Fatalf("log: %v hw %d", got, hw)
	}
	e.waitIndexed(t, tp, 7)
}

// TestChainMessagesFollowRounds: the first appends of 200 partitions at once
// go to the WAL in a handful of messages, not one each.
func TestChainMessagesFollowRounds(t *testing.T) {
	e := newEnv(t)
	w := e.openWAL(t)
	l := e.newUnflushedChainLog(t, w, "a")
	const parts = 200
	var wg sync.WaitGroup
	errs := make(chan error, parts)
	for i := range parts {
		wg.Go(func() {
			tp := index.TopicPartition{TopicID: [16]byte{9}, Partition: int32(i)}
			if off, err := appendWait(t, l, tp, testBatch(t, 1)); err != nil || off != 0 {
				errs <- fmt.Errorf("partition %d: %d, %v", i, off, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	msgs := 0
	for shard := range w.Shards() {
		s, err := e.js.Stream(t.Context(), w.StreamNames()[shard])
		if err != nil {
			t.Fatal(err)
		}
		msgs += int(s.CachedInfo().State.Msgs)
	}
	if msgs >= parts/2 {
		t.Fatalf("%d partitions' first appends took %d WAL messages", parts, msgs)
	}
	for i := range parts {
		tp := index.TopicPartition{TopicID: [16]byte{9}, Partition: int32(i)}
		if got := chainRecords(t, w, l, tp); len(got) != 1 {
			t.Fatalf("partition %d has %d records on the chain, want 1", i, len(got))
		}
	}
}

// TestChainPurgeWaitsForHandover: flushed records are purged from the
// writer's chain, but those of a partition released before its flush stay
// until its next leader has moved them to its own chain.
func TestChainPurgeWaitsForHandover(t *testing.T) {
	e := newEnv(t)
	w := e.openWAL(t)
	bucket := &blockingBucket{Bucket: e.bucket}
	l := e.startLog(t, Config{Bucket: bucket, WAL: w, NodeID: "a", WALChains: true, WALPurgeInterval: 20 * time.Millisecond})
	// Both on one chain, so that the flushed partition's message, not the
	// released one's, is the writer's newest, which a purge keeps.
	flushed := index.TopicPartition{TopicID: [16]byte{4}, Partition: 0}
	released := onChainOf(l, flushed)
	if _, err := appendWait(t, l, flushed, testBatch(t, 1)); err != nil {
		t.Fatal(err)
	}
	e.waitIndexed(t, flushed, 1)
	bucket.setDown(true)
	if _, err := appendWait(t, l, released, testBatch(t, 1)); err != nil {
		t.Fatal(err)
	}
	l.ReleaseUnless(func(tp index.TopicPartition) bool { return tp != released })
	if _, err := appendWait(t, l, flushed, testBatch(t, 1)); err != nil {
		t.Fatal(err)
	}
	// Purge passes run meanwhile; the released partition's record stays.
	time.Sleep(200 * time.Millisecond)
	if got := chainRecords(t, w, l, released); len(got) != 1 {
		t.Fatalf("the released partition's record was purged before a new leader took it: %d left", len(got))
	}

	next := e.startLog(t, Config{WAL: w, NodeID: "b", WALChains: true})
	if got, hw := readOffsets(t, next.Read, released); !equal(got, []int64{0, 0}) || hw != 1 {
		t.Fatalf("the new leader reads %v hw %d, want offset 0", got, hw)
	}
	bucket.setDown(false)
	e.waitIndexed(t, flushed, 2)
	checkFor(t, func() error {
		if got := chainRecords(t, w, l, released); len(got) != 0 {
			return fmt.Errorf("%d records of the handed-over partition left on the old chain", len(got))
		}
		if got := chainRecords(t, w, l, flushed); len(got) > 1 {
			return fmt.Errorf("%d flushed records left on the chain, want at most the newest", len(got))
		}
		return nil
	})
}

// TestChainRollbackToPartitionSubjects: a leader without writer chains takes
// over a tail a chain holds: it fences the chain's writer, moves the tail to
// the partition's own subject, and a leader with chains takes it back.
func TestChainRollbackToPartitionSubjects(t *testing.T) {
	e := newEnv(t)
	w := e.openWAL(t)
	tp := index.TopicPartition{TopicID: [16]byte{10}, Partition: 2}
	chained := e.newUnflushedChainLog(t, w, "a")
	if _, err := appendWait(t, chained, tp, testBatch(t, 2)); err != nil {
		t.Fatal(err)
	}
	legacy := e.newUnflushedLog(t, w, "b")
	if off, err := appendWait(t, legacy, tp, testBatch(t, 1)); err != nil || off != 2 {
		t.Fatalf("append without chains after the takeover: %d, %v; want 2", off, err)
	}
	if _, err := appendWait(t, chained, tp, testBatch(t, 1)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("the chain's writer after the takeover: %v, want ErrNotLeader", err)
	}
	if st, _, err := e.store.LoadPartition(t.Context(), tp); err != nil || st.WALWriter != "" {
		t.Fatalf("the index names chain %q (%v) after a takeover without chains", st.WALWriter, err)
	}
	again := e.startLog(t, Config{WAL: w, NodeID: "c", WALChains: true})
	if got, hw := readOffsets(t, again.Read, tp); !equal(got, []int64{0, 1, 2, 2}) || hw != 3 {
		t.Fatalf("log: %v hw %d", got, hw)
	}
	e.waitIndexed(t, tp, 3)
}

// TestChainIdleChainDropped: the chain of a writer that died unflushed stays
// while a partition it holds records of has not moved on, and its records
// are dropped by another writer's purger once every one has.
func TestChainIdleChainDropped(t *testing.T) {
	e := newEnv(t)
	w := e.openWAL(t)
	tps := []index.TopicPartition{{TopicID: [16]byte{11}, Partition: 0}, {TopicID: [16]byte{11}, Partition: 1}}
	dead := e.newUnflushedChainLog(t, w, "a")
	for _, tp := range tps {
		if _, err := appendWait(t, dead, tp, testBatch(t, 1)); err != nil {
			t.Fatal(err)
		}
	}
	deadRecords := func() int {
		return len(chainRecords(t, w, dead, tps[0])) + len(chainRecords(t, w, dead, tps[1]))
	}
	next := e.startLog(t, Config{WAL: w, NodeID: "b", WALChains: true, WALPurgeInterval: 20 * time.Millisecond, WALIdleChainAge: time.Millisecond})
	if got, hw := readOffsets(t, next.Read, tps[0]); !equal(got, []int64{0, 0}) || hw != 1 {
		t.Fatalf("first partition: %v hw %d", got, hw)
	}
	e.waitIndexed(t, tps[0], 1)
	// Purge passes run; the second partition's record is still needed.
	time.Sleep(200 * time.Millisecond)
	if shard := w.Shard(walPartition(tps[1])); len(chainRecords(t, w, dead, tps[1])) != 1 {
		t.Fatalf("the record of a partition not yet taken over was dropped from shard %d", shard)
	}
	if got, hw := readOffsets(t, next.Read, tps[1]); !equal(got, []int64{0, 0}) || hw != 1 {
		t.Fatalf("second partition: %v hw %d", got, hw)
	}
	checkFor(t, func() error {
		if n := deadRecords(); n != 0 {
			return fmt.Errorf("%d records of the dead writer left", n)
		}
		return nil
	})
}

// gateBucket holds PUTs while closed.
type gateBucket struct {
	objstore.Bucket
	mu      sync.Mutex
	gate    chan struct{} // nil: open
	waiting atomic.Int32
}

func (b *gateBucket) close() {
	b.mu.Lock()
	b.gate = make(chan struct{})
	b.mu.Unlock()
}

func (b *gateBucket) open() {
	b.mu.Lock()
	close(b.gate)
	b.gate = nil
	b.mu.Unlock()
}

func (b *gateBucket) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	b.mu.Lock()
	gate := b.gate
	b.mu.Unlock()
	if gate != nil {
		b.waiting.Add(1)
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return b.Bucket.Put(ctx, key, r, size)
}

// TestChainReleaseKeepsUnflushedRecords: a partition released while a flush
// of its older batches is in flight, with a newer batch acknowledged and
// queued, keeps that batch's chain message through the flush's commit and
// the purges after it, and the drain flushes it; the next leader finds
// both batches.
func TestChainReleaseKeepsUnflushedRecords(t *testing.T) {
	e := newEnv(t)
	w := e.openWAL(t)
	bucket := &gateBucket{Bucket: e.bucket}
	l := e.startLog(t, Config{Bucket: bucket, WAL: w, NodeID: "a", WALChains: true, WALPurgeInterval: 10 * time.Millisecond})
	tp := index.TopicPartition{TopicID: [16]byte{12}, Partition: 0}
	other := onChainOf(l, tp)
	bucket.close()
	if _, err := appendWait(t, l, tp, testBatch(t, 1)); err != nil {
		t.Fatal(err)
	}
	checkFor(t, func() error {
		if bucket.waiting.Load() == 0 {
			return errors.New("no flush is holding the first batch")
		}
		return nil
	})
	if off, err := appendWait(t, l, tp, testBatch(t, 1)); err != nil || off != 1 {
		t.Fatalf("second append: %d, %v", off, err)
	}
	l.ReleaseUnless(func(p index.TopicPartition) bool { return p != tp })
	// A later message on the same chain, so that a purge could reach the
	// second batch's.
	if _, err := appendWait(t, l, other, testBatch(t, 1)); err != nil {
		t.Fatal(err)
	}
	bucket.open()
	e.waitIndexed(t, tp, 2)
	time.Sleep(200 * time.Millisecond) // purge passes
	next := e.startLog(t, Config{WAL: w, NodeID: "b", WALChains: true})
	if got, hw := readOffsets(t, next.Read, tp); !equal(got, []int64{0, 0, 1, 1}) || hw != 2 {
		t.Fatalf("the next leader reads %v hw %d, want offsets 0 and 1", got, hw)
	}
}

// TestReleaseDrainsAcknowledgedBatches: a partition given up with batches
// the WAL acknowledged, long before they were due for a flush, flushes them
// as it goes, under either WAL layout; with chains its records then leave
// the chain though no other leader took the partition. The Log takes the
// partition again at its next use, at the next epoch.
func TestReleaseDrainsAcknowledgedBatches(t *testing.T) {
	for _, chains := range []bool{false, true} {
		t.Run(fmt.Sprintf("chains=%v", chains), func(t *testing.T) {
			e := newEnv(t)
			w := e.openWAL(t)
			l := e.startLog(t, Config{WAL: w, NodeID: "a", WALChains: chains, PartitionFlushAge: time.Hour, WALPurgeInterval: 20 * time.Millisecond})
			tp := index.TopicPartition{TopicID: [16]byte{13}, Partition: 0}
			if _, err := appendWait(t, l, tp, testBatch(t, 2)); err != nil {
				t.Fatal(err)
			}
			l.ReleaseUnless(func(p index.TopicPartition) bool { return p != tp })
			e.waitIndexed(t, tp, 2)
			if chains {
				// A later message on the chain, which the purge keeps as
				// the writer's newest, held by a partition not yet due.
				if _, err := appendWait(t, l, onChainOf(l, tp), testBatch(t, 1)); err != nil {
					t.Fatal(err)
				}
				checkFor(t, func() error {
					if n := len(chainRecords(t, w, l, tp)); n != 0 {
						return fmt.Errorf("%d records of the drained partition left on the chain", n)
					}
					return nil
				})
			}
			if off, err := appendWait(t, l, tp, testBatch(t, 1)); err != nil || off != 2 {
				t.Fatalf("append after the release: offset %d, %v; want 2", off, err)
			}
			if got, hw := readOffsets(t, l.Read, tp); !equal(got, []int64{0, 1, 2, 2}) || hw != 3 {
				t.Fatalf("log: %v hw %d", got, hw)
			}
			st, _, err := e.store.LoadPartition(t.Context(), tp)
			if err != nil || st.LeaderEpoch != 2 {
				t.Fatalf("leader epoch %d (%v) after the second claim, want 2", st.LeaderEpoch, err)
			}
		})
	}
}

// TestReplicaReadsChainTail: a replica reads a partition's unflushed tail
// from its leader's chain, past another partition's records on the same
// chain, and then the records appended after its last read.
func TestReplicaReadsChainTail(t *testing.T) {
	e := newEnv(t)
	w := e.openWAL(t)
	leader := e.newUnflushedChainLog(t, w, "a")
	tp := index.TopicPartition{TopicID: [16]byte{17}, Partition: 0}
	other := onChainOf(leader, tp)
	replica := e.startLog(t, Config{WAL: w, NodeID: "b", WALChains: true, ReplicaRefresh: time.Millisecond})
	// Each batch's base and last offset: two batches of two records, then
	// two of one.
	for round, want := range [][]int64{{0, 1, 2, 3}, {0, 1, 2, 3, 4, 4, 5, 5}} {
		for range 2 {
			if _, err := appendWait(t, leader, tp, testBatch(t, 2-round)); err != nil {
				t.Fatal(err)
			}
			if _, err := appendWait(t, leader, other, testBatch(t, 1)); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(5 * time.Millisecond) // past ReplicaRefresh
		got, hw := readOffsets(t, replica.ReadReplica, tp)
		if !equal(got, want) || hw != want[len(want)-1]+1 {
			t.Fatalf("round %d: the replica reads %v hw %d, want %v", round, got, hw, want)
		}
	}
}
