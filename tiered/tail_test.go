package tiered

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/batch"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/wal"
)

// openWAL opens the env's WAL; every log of a test shares it, as gateways
// share the NATS cluster.
func (e env) openWAL(t *testing.T) *countingWAL {
	t.Helper()
	w, err := wal.Open(t.Context(), e.js, wal.Config{Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	return &countingWAL{Log: w}
}

// countingWAL counts the appends that reach the real WAL.
type countingWAL struct {
	*wal.Log
	appends atomic.Int64
}

func (w *countingWAL) Append(ctx context.Context, p wal.Partition, r wal.Record, expectLast uint64) (uint64, error) {
	w.appends.Add(1)
	return w.Log.Append(ctx, p, r, expectLast)
}

// newUnflushedLog is a Log whose flusher never runs: a gateway killed after
// the WAL acknowledged its batches and before their flush.
func (e env) newUnflushedLog(t *testing.T, w WAL, nodeID string) *Log {
	t.Helper()
	l, err := New(Config{Bucket: e.bucket, Index: e.store, WAL: w, NodeID: nodeID})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func idempotentBatch(t *testing.T, producerID int64, seq int32, n int) []byte {
	t.Helper()
	rs := make([]batch.Record, n)
	for i := range rs {
		rs[i] = batch.Record{Value: []byte{byte(seq), byte(i)}, Timestamp: 1700000000000 + int64(seq)}
	}
	b, err := batch.Encode(batch.Batch{ProducerID: producerID, ProducerEpoch: 0, BaseSequence: seq, Records: rs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readOffsets reads the whole partition and returns each batch's base and
// last offset.
func readOffsets(t *testing.T, read func(ctx context.Context, tp index.TopicPartition, offset int64, maxBytes int, iso Isolation) (ReadResult, error), tp index.TopicPartition) (offsets []int64, hw int64) {
	t.Helper()
	next := int64(0)
	for range 1000 {
		res, err := read(t.Context(), tp, next, 1<<20, ReadUncommitted)
		if err != nil {
			t.Fatal(err)
		}
		hw = res.HighWatermark
		if len(res.Records) == 0 {
			return offsets, hw
		}
		_ = batch.Each(res.Records, func(_ []byte, h batch.Header) error {
			offsets = append(offsets, h.BaseOffset, h.LastOffset())
			next = h.LastOffset() + 1
			return nil
		})
	}
	t.Fatal("read did not reach the end")
	return nil, 0
}

// TestWALAcknowledgesBeforeFlush: with object storage down, a wal-tier batch
// is acknowledged from the WAL, read back by its leader and by a replica on
// another log, and once the store returns it is flushed, indexed and purged
// from the WAL.
func TestWALAcknowledgesBeforeFlush(t *testing.T) {
	e := newEnv(t)
	w := e.openWAL(t)
	bucket := &blockingBucket{Bucket: e.bucket, down: true}
	l := e.startLog(t, Config{Bucket: bucket, WAL: w, NodeID: "a", WALPurgeInterval: 50 * time.Millisecond})
	tp := index.TopicPartition{TopicID: [16]byte{5}, Partition: 1}

	for i := range 3 {
		if off, err := appendWait(t, l, tp, testBatch(t, 4)); err != nil || off != int64(4*i) {
			t.Fatalf("append %d with the store down: %d, %v", i, off, err)
		}
	}
	want := []int64{0, 3, 4, 7, 8, 11}
	if got, hw := readOffsets(t, l.Read, tp); !equal(got, want) || hw != 12 {
		t.Fatalf("leader read: %v hw %d, want %v hw 12", got, hw, want)
	}
	other := e.startLog(t, Config{WAL: w, NodeID: "b", ReplicaRefresh: time.Millisecond})
	if got, hw := readOffsets(t, other.ReadReplica, tp); !equal(got, want) || hw != 12 {
		t.Fatalf("replica read: %v hw %d, want %v hw 12", got, hw, want)
	}
	if st, _, err := e.store.LoadPartition(t.Context(), tp); err != nil || st.HighWatermark != 0 {
		t.Fatalf("index high watermark %d (%v) with the store down, want 0", st.HighWatermark, err)
	}

	bucket.setDown(false)
	e.waitIndexed(t, tp, 12)
	time.Sleep(2 * time.Millisecond)
	if got, hw := readOffsets(t, other.ReadReplica, tp); !equal(got, want) || hw != 12 {
		t.Fatalf("replica read after flush: %v hw %d, want %v hw 12", got, hw, want)
	}
	// The next purge pass removes everything but the last message, the
	// chain's anchor.
	waitAnchorOnly(t, w, tp)
}

// TestWALRecoveryAfterCrash: a leader dies after the WAL acknowledged its
// batches and before any flush. The next leader replays the tail: every
// acknowledged record is there at its offset, a producer's retry of its last
// batch is answered as a duplicate, the epoch history starts the new epoch
// after the tail, and the flush makes it all durable in object storage.
func TestWALRecoveryAfterCrash(t *testing.T) {
	e := newEnv(t)
	w := e.openWAL(t)
	tp := index.TopicPartition{TopicID: [16]byte{6}, Partition: 0}
	dead := e.newUnflushedLog(t, w, "a")
	for seq := int32(0); seq < 10; seq += 2 {
		if off, err := appendWait(t, dead, tp, idempotentBatch(t, 7, seq, 2)); err != nil || off != int64(seq) {
			t.Fatalf("append seq %d: %d, %v", seq, off, err)
		}
	}

	next := e.startLog(t, Config{WAL: w, NodeID: "b"})
	a, err := next.Append(t.Context(), tp, idempotentBatch(t, 7, 8, 2)) // the retry of the last batch
	if err != nil || !a.Duplicate || a.BaseOffset != 8 {
		t.Fatalf("retry of an acknowledged batch: %+v, %v; want a duplicate at 8", a, err)
	}
	if off, err := appendWait(t, next, tp, idempotentBatch(t, 7, 10, 2)); err != nil || off != 10 {
		t.Fatalf("next batch after recovery: %d, %v; want 10", off, err)
	}
	if got, hw := readOffsets(t, next.Read, tp); hw != 12 || len(got) != 12 {
		t.Fatalf("after recovery: %v hw %d, want 6 batches through 12", got, hw)
	}
	if epoch, end, err := next.EndOffsetFor(t.Context(), tp, 1); err != nil || epoch != 1 || end != 10 {
		t.Fatalf("EndOffsetFor(1) = %d, %d, %v; want epoch 1 ending at 10 (the tail it wrote)", epoch, end, err)
	}
	e.waitIndexed(t, tp, 12)
	if st, _, _ := e.store.LoadPartition(t.Context(), tp); len(st.Epochs) != 2 || st.Epochs[1] != (index.EpochStart{Epoch: 2, StartOffset: 10}) {
		t.Fatalf("stored epochs %+v, want epoch 2 starting at 10", st.Epochs)
	}
}

// TestWALFencesDeposedLeader: a leader that lost its claim can still append
// to the WAL until the new leader appends; whatever it had acknowledged is
// kept by the new leader, and its appends after that fail with ErrNotLeader.
func TestWALFencesDeposedLeader(t *testing.T) {
	e := newEnv(t)
	w := e.openWAL(t)
	tp := index.TopicPartition{TopicID: [16]byte{7}, Partition: 0}
	old := e.newUnflushedLog(t, w, "a")
	if _, err := appendWait(t, old, tp, testBatch(t, 1)); err != nil {
		t.Fatal(err)
	}
	leader := e.newUnflushedLog(t, w, "b")
	if o, err := leader.Offsets(t.Context(), tp); err != nil || o.HighWatermark != 1 {
		t.Fatalf("new leader's high watermark %d (%v), want 1", o.HighWatermark, err)
	}
	// The deposed leader has not heard; its append still chains in the WAL
	// and is acknowledged.
	if off, err := appendWait(t, old, tp, testBatch(t, 1)); err != nil || off != 1 {
		t.Fatalf("deposed leader's append: %d, %v", off, err)
	}
	// The new leader's first append finds the WAL moved: refused, reloaded.
	if _, err := appendWait(t, leader, tp, testBatch(t, 1)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("new leader's stale append: %v, want ErrNotLeader", err)
	}
	if off, err := appendWait(t, leader, tp, testBatch(t, 1)); err != nil || off != 2 {
		t.Fatalf("new leader's append after reload: %d, %v; want 2", off, err)
	}
	if _, err := appendWait(t, old, tp, testBatch(t, 1)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("deposed leader's append after the new leader's: %v, want ErrNotLeader", err)
	}
	if got, hw := readOffsets(t, leader.Read, tp); !equal(got, []int64{0, 0, 1, 1, 2, 2}) || hw != 3 {
		t.Fatalf("log: %v hw %d; want offsets 0, 1, 2", got, hw)
	}
}

// TestWALGroupCommit: concurrent appends to one partition share WAL messages.
func TestWALGroupCommit(t *testing.T) {
	e := newEnv(t)
	w := e.openWAL(t)
	l := e.startLog(t, Config{WAL: w})
	tp := index.TopicPartition{TopicID: [16]byte{8}, Partition: 0}
	const n = 400
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := appendWait(t, l, tp, testBatch(t, 1))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := w.appends.Load(); got >= n {
		t.Fatalf("%d WAL appends for %d concurrent batches: no group commit", got, n)
	}
	if o, _ := l.Offsets(t.Context(), tp); o.HighWatermark != n {
		t.Fatalf("high watermark %d, want %d", o.HighWatermark, n)
	}
	t.Logf("%d batches in %d WAL messages", n, w.appends.Load())
}

// TestWALBackpressureByAge: with object storage down, the tail grows until
// its oldest batch is MaxTailAge old; then appends are refused, and once the
// store returns and the backlog flushes they are accepted again.
func TestWALBackpressureByAge(t *testing.T) {
	e := newEnv(t)
	w := e.openWAL(t)
	bucket := &blockingBucket{Bucket: e.bucket, down: true}
	l := e.startLog(t, Config{Bucket: bucket, WAL: w, MaxTailAge: 200 * time.Millisecond})
	tp := index.TopicPartition{TopicID: [16]byte{9}, Partition: 0}
	if _, err := appendWait(t, l, tp, testBatch(t, 1)); err != nil {
		t.Fatal(err)
	}
	checkFor(t, func() error {
		_, err := l.Append(t.Context(), tp, testBatch(t, 1))
		if !errors.Is(err, ErrBackpressure) {
			return errors.New("still accepted")
		}
		return nil
	})
	bucket.setDown(false)
	checkFor(t, func() error {
		_, err := appendWait(t, l, tp, testBatch(t, 1))
		return err
	})
}

// TestS3TierSkipsWAL: a topic on the s3 tier writes nothing to the WAL and
// acknowledges after the index commit; moved to the wal tier, it uses it.
func TestS3TierSkipsWAL(t *testing.T) {
	e := newEnv(t)
	w := e.openWAL(t)
	s3Topic := [16]byte{10}
	var walNow atomic.Bool
	l := e.startLog(t, Config{WAL: w, Durability: func(_ context.Context, tp index.TopicPartition) (Durability, error) {
		if tp.TopicID == s3Topic && !walNow.Load() {
			return DurabilityS3, nil
		}
		return DurabilityWAL, nil
	}})
	tp := index.TopicPartition{TopicID: s3Topic, Partition: 0}
	if _, err := appendWait(t, l, tp, testBatch(t, 3)); err != nil {
		t.Fatal(err)
	}
	if st, _, err := e.store.LoadPartition(t.Context(), tp); err != nil || st.HighWatermark != 3 {
		t.Fatalf("s3 tier acknowledged before the index commit: hw %d, %v", st.HighWatermark, err)
	}
	if w.appends.Load() != 0 {
		t.Fatalf("%d WAL appends for an s3-tier topic", w.appends.Load())
	}
	// The topic moves to the wal tier: the partition reloads and its next
	// batch goes through the WAL.
	walNow.Store(true)
	if off, err := appendWait(t, l, tp, testBatch(t, 2)); err != nil || off != 3 {
		t.Fatalf("append after the tier change: %d, %v; want 3", off, err)
	}
	if w.appends.Load() != 1 {
		t.Fatalf("%d WAL appends after the topic moved to the wal tier, want 1", w.appends.Load())
	}
}

// TestCorruptTailIsNotServed: a WAL tail that does not continue the index
// (here: a gap) stops the partition from loading rather than losing records.
func TestCorruptTailIsNotServed(t *testing.T) {
	e := newEnv(t)
	w := e.openWAL(t)
	tp := index.TopicPartition{TopicID: [16]byte{11}, Partition: 0}
	if _, err := w.Append(t.Context(), walPartition(tp), wal.Record{BaseOffset: 5, LastOffset: 5, Data: testBatch(t, 1)}, 0); err != nil {
		t.Fatal(err)
	}
	l := e.startLog(t, Config{WAL: w})
	if _, err := l.Append(t.Context(), tp, testBatch(t, 1)); !errors.Is(err, ErrCorruptTail) {
		t.Fatalf("append over a gapped tail: %v, want ErrCorruptTail", err)
	}
}

func checkFor(t *testing.T, f func() error) {
	t.Helper()
	testenv.CheckFor(t, 10*time.Second, 10*time.Millisecond, f)
}

// waitIndexed waits until the index holds tp up to high watermark hw.
func (e env) waitIndexed(t *testing.T, tp index.TopicPartition, hw int64) {
	t.Helper()
	checkFor(t, func() error {
		st, _, err := e.store.LoadPartition(t.Context(), tp)
		if err != nil {
			return err
		}
		if st.HighWatermark != hw {
			return fmt.Errorf("partition %d indexed to %d, want %d", tp.Partition, st.HighWatermark, hw)
		}
		return nil
	})
}

// waitAnchorOnly waits until purges have left tp's WAL subject only its last
// message, the anchor of the expected-sequence chain.
func waitAnchorOnly(t *testing.T, w WAL, tp index.TopicPartition) {
	t.Helper()
	checkFor(t, func() error {
		var left int
		if _, err := w.Replay(t.Context(), walPartition(tp), 0, func(uint64, wal.Record) error { left++; return nil }); err != nil {
			return err
		}
		if left != 1 {
			return fmt.Errorf("%d WAL messages left, want 1 (the anchor)", left)
		}
		return nil
	})
}

// replayCountingWAL counts the messages replays hand over.
type replayCountingWAL struct {
	WAL
	replayed atomic.Int64
}

func (w *replayCountingWAL) Replay(ctx context.Context, p wal.Partition, after uint64, fn func(uint64, wal.Record) error) (uint64, error) {
	return w.WAL.Replay(ctx, p, after, func(seq uint64, r wal.Record) error {
		w.replayed.Add(1)
		return fn(seq, r)
	})
}

// TestReplaySkipsFlushedMessages: a new leader's replay starts after the
// last WAL message the index covers, not at the oldest message purges have
// left, so taking over a partition whose tail is flushed reads nothing; the
// new leader then purges what the earlier one flushed and left.
func TestReplaySkipsFlushedMessages(t *testing.T) {
	e := newEnv(t)
	w := e.openWAL(t)
	tp := index.TopicPartition{TopicID: [16]byte{12}, Partition: 0}
	// This leader flushes but never gets to purge.
	l := e.startLog(t, Config{WAL: w, WALPurgeInterval: time.Hour})
	for range 50 {
		if _, err := appendWait(t, l, tp, testBatch(t, 1)); err != nil {
			t.Fatal(err)
		}
	}
	checkFor(t, func() error {
		st, _, err := e.store.LoadPartition(t.Context(), tp)
		if err != nil || st.HighWatermark != 50 || st.WALSeq == 0 {
			return fmt.Errorf("not flushed yet: %+v, %v", st.HighWatermark, err)
		}
		return nil
	})
	counting := &replayCountingWAL{WAL: w}
	next := e.startLog(t, Config{WAL: counting, NodeID: "b", WALPurgeInterval: 20 * time.Millisecond})
	if _, hw := readOffsets(t, next.Read, tp); hw != 50 {
		t.Fatalf("read after takeover: high watermark %d, want 50", hw)
	}
	if n := counting.replayed.Load(); n != 0 {
		t.Fatalf("the takeover replayed %d flushed messages", n)
	}
	waitAnchorOnly(t, w, tp)
}

// TestDuplicateQueuesNothing: an idempotent producer's retry of a batch still
// on its way is answered with the original's wait and adds nothing to what
// waits for object storage; once flushed, the tail is empty.
func TestDuplicateQueuesNothing(t *testing.T) {
	e := newEnv(t)
	w := e.openWAL(t)
	bucket := &blockingBucket{Bucket: e.bucket, down: true}
	l := e.startLog(t, Config{Bucket: bucket, WAL: w})
	tp := index.TopicPartition{TopicID: [16]byte{13}, Partition: 0}
	b := idempotentBatch(t, 9, 0, 3)
	if _, err := appendWait(t, l, tp, append([]byte(nil), b...)); err != nil {
		t.Fatal(err)
	}
	a, err := l.Append(t.Context(), tp, append([]byte(nil), b...))
	if err != nil || !a.Duplicate || a.BaseOffset != 0 {
		t.Fatalf("retry: %+v, %v; want a duplicate at 0", a, err)
	}
	if n, _ := l.tailStats(); n != len(b) {
		t.Fatalf("tail holds %d bytes, want the original's %d", n, len(b))
	}
	bucket.setDown(false)
	checkFor(t, func() error {
		if n, _ := l.tailStats(); n != 0 {
			return fmt.Errorf("%d bytes still wait for object storage", n)
		}
		return nil
	})
}

// TestDuplicateWindow: a producer's last index.MaxProducerBatches batches are
// remembered, across a flush and a claim by another log, so a retry of any of
// them is a duplicate at its original offset; a retry of an older one is out
// of order, as on Kafka's brokers.
func TestDuplicateWindow(t *testing.T) {
	e := newEnv(t)
	l := e.startLog(t, Config{})
	tp := index.TopicPartition{TopicID: [16]byte{14}, Partition: 0}
	const sent = index.MaxProducerBatches + 2
	for i := range sent {
		if off, err := appendWait(t, l, tp, idempotentBatch(t, 11, int32(2*i), 2)); err != nil || off != int64(2*i) {
			t.Fatalf("batch %d: offset %d, %v", i, off, err)
		}
	}
	for _, log := range []*Log{l, e.startLog(t, Config{})} {
		for i := range sent {
			a, err := log.Append(t.Context(), tp, idempotentBatch(t, 11, int32(2*i), 2))
			if i < sent-index.MaxProducerBatches {
				if !errors.Is(err, ErrOutOfOrderSequence) {
					t.Fatalf("retry of batch %d, out of the window: %+v, %v; want ErrOutOfOrderSequence", i, a, err)
				}
				continue
			}
			if err != nil || !a.Duplicate || a.BaseOffset != int64(2*i) {
				t.Fatalf("retry of batch %d: %+v, %v; want a duplicate at %d", i, a, err, 2*i)
			}
		}
	}
}

// TestSequenceGapFromDeposedLeader: a deposed leader that does not know it
// yet appends an idempotent producer's batch to the WAL after the new leader
// replayed it. The producer's next batch, sent to the new leader, shows a
// sequence gap; the new leader must not answer OUT_OF_ORDER_SEQUENCE_NUMBER
// (clients take it as data loss, renumber and resend, duplicating what was
// acknowledged), but reload, replay the deposed leader's batch and tell the
// producer to retry, after which the batch lands right after it.
func TestSequenceGapFromDeposedLeader(t *testing.T) {
	e := newEnv(t)
	w := e.openWAL(t)
	tp := index.TopicPartition{TopicID: [16]byte{14}, Partition: 0}
	old := e.startLog(t, Config{WAL: w, NodeID: "a"})
	if off, err := appendWait(t, old, tp, idempotentBatch(t, 5, 0, 3)); err != nil || off != 0 {
		t.Fatalf("first batch: %d, %v", off, err)
	}
	// The new leader claims the partition and replays the WAL: offsets 0-2.
	next := e.startLog(t, Config{WAL: w, NodeID: "b"})
	if _, hw := readOffsets(t, next.Read, tp); hw != 3 {
		t.Fatalf("new leader's high watermark %d, want 3", hw)
	}
	// The deposed leader, unaware, appends sequences 3-5 at offsets 3-5.
	if off, err := appendWait(t, old, tp, idempotentBatch(t, 5, 3, 3)); err != nil || off != 3 {
		t.Fatalf("deposed leader's append: %d, %v; want 3 (nothing fenced it yet)", off, err)
	}

	_, err := next.Append(t.Context(), tp, idempotentBatch(t, 5, 6, 3))
	if errors.Is(err, ErrOutOfOrderSequence) || !errors.Is(err, ErrNotLeader) {
		t.Fatalf("sequences 6-8 on the new leader: %v; want a retriable ErrNotLeader, not a sequence gap", err)
	}
	// The retry, as a client retries NOT_LEADER (the reload can meet a commit
	// of the dropped partition still in flight, and fail once more).
	checkFor(t, func() error {
		off, err := appendWait(t, next, tp, idempotentBatch(t, 5, 6, 3))
		if errors.Is(err, ErrNotLeader) {
			return err
		}
		if err != nil || off != 6 {
			t.Fatalf("retry of sequences 6-8: %d, %v; want offset 6", off, err)
		}
		return nil
	})
	a, err := next.Append(t.Context(), tp, idempotentBatch(t, 5, 3, 3))
	if err != nil || !a.Duplicate || a.BaseOffset != 3 {
		t.Fatalf("resend of sequences 3-5: %+v, %v; want a duplicate at 3", a, err)
	}
	// A real gap is still reported as one.
	if _, err := next.Append(t.Context(), tp, idempotentBatch(t, 5, 20, 1)); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("sequence 20 after 8: %v; want ErrOutOfOrderSequence", err)
	}
	if got, hw := readOffsets(t, next.Read, tp); hw != 9 || !equal(got, []int64{0, 2, 3, 5, 6, 8}) {
		t.Fatalf("log %v hw %d; want batches at 0, 3 and 6, hw 9", got, hw)
	}
}

// TestReadPastEndFromDeposedLeader: a fetch on the new leader at an offset
// only a deposed leader's late append holds is not answered with
// OFFSET_OUT_OF_RANGE (on which consumers reset their position): the new
// leader reloads and serves it.
func TestReadPastEndFromDeposedLeader(t *testing.T) {
	e := newEnv(t)
	w := e.openWAL(t)
	tp := index.TopicPartition{TopicID: [16]byte{15}, Partition: 0}
	old := e.startLog(t, Config{WAL: w, NodeID: "a"})
	if _, err := appendWait(t, old, tp, testBatch(t, 3)); err != nil {
		t.Fatal(err)
	}
	next := e.startLog(t, Config{WAL: w, NodeID: "b"})
	if _, hw := readOffsets(t, next.Read, tp); hw != 3 {
		t.Fatalf("new leader's high watermark %d, want 3", hw)
	}
	if off, err := appendWait(t, old, tp, testBatch(t, 3)); err != nil || off != 3 {
		t.Fatalf("deposed leader's append: %d, %v; want 3", off, err)
	}
	// Retried as a client retries NOT_LEADER: the reload can meet a commit of
	// the dropped partition still in flight, and fail once more.
	checkFor(t, func() error {
		res, err := next.Read(t.Context(), tp, 4, 1<<20, ReadUncommitted)
		if errors.Is(err, ErrNotLeader) {
			return err
		}
		if err != nil || res.HighWatermark != 6 || len(res.Records) == 0 {
			t.Fatalf("read at 4 on the new leader: hw %d, %d bytes, %v; want the batch at 3-5, hw 6", res.HighWatermark, len(res.Records), err)
		}
		return nil
	})
	// Past the real end it is still out of range.
	if _, err := next.Read(t.Context(), tp, 7, 1<<20, ReadUncommitted); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read at 7: %v; want ErrOffsetOutOfRange", err)
	}
}

// TestSparsePartitionsSkipFlushes: a wal-tier partition with less than
// PartitionFlushBytes queued waits for PartitionFlushAge while a busy one goes
// into every flush, so a trickle does not cost an index commit per flush. Its
// batches are acknowledged and read back meanwhile, and the tail's age counts
// their wait. Past the age, or past a quarter of MaxTailBytes deferred, or on
// shutdown, they are flushed and indexed.
func TestSparsePartitionsSkipFlushes(t *testing.T) {
	e := newEnv(t)
	w := e.openWAL(t)
	topic := [16]byte{9}
	sparse := index.TopicPartition{TopicID: topic, Partition: 1}
	busy := index.TopicPartition{TopicID: topic, Partition: 2}

	t.Run("waits for its age", func(t *testing.T) {
		l := e.startLog(t, Config{WAL: w, NodeID: "a", PartitionFlushBytes: 4 << 10, PartitionFlushAge: time.Hour})
		if _, err := appendWait(t, l, sparse, testBatch(t, 2)); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := appendWait(t, l, busy, testBatch(t, 64)); err != nil {
				t.Fatal(err)
			}
		}
		e.waitIndexed(t, busy, 3*64)
		// Flushes have run since the sparse batch was acknowledged (the
		// busy partition's three), and none took it.
		if st, _, err := e.store.LoadPartition(t.Context(), sparse); err != nil || st.HighWatermark != 0 {
			t.Fatalf("sparse partition indexed to %d (%v) within its age, want 0", st.HighWatermark, err)
		}
		if got, hw := readOffsets(t, l.Read, sparse); !equal(got, []int64{0, 1}) || hw != 2 {
			t.Fatalf("sparse partition reads %v hw %d, want [0 1] hw 2", got, hw)
		}
		bytes, age := l.tailStats()
		if bytes == 0 || age <= 0 {
			t.Fatalf("tail %d bytes, age %v with a batch deferred; want both above zero", bytes, age)
		}
	})
	// The first log's shutdown flush took the sparse batch.
	e.waitIndexed(t, sparse, 2)

	t.Run("flushed at its age", func(t *testing.T) {
		l := e.startLog(t, Config{WAL: w, NodeID: "b", PartitionFlushBytes: 4 << 10, PartitionFlushAge: 50 * time.Millisecond})
		if _, err := appendWait(t, l, sparse, testBatch(t, 2)); err != nil {
			t.Fatal(err)
		}
		e.waitIndexed(t, sparse, 4)
	})

	t.Run("flushed past the deferred bound", func(t *testing.T) {
		// A quarter of 16 KiB may stay deferred: the oldest partitions go
		// into a flush once more waits.
		l := e.startLog(t, Config{WAL: w, NodeID: "c", PartitionFlushBytes: 1 << 20, PartitionFlushAge: time.Hour, FlushBytes: 16 << 10, MaxTailBytes: 16 << 10})
		first := index.TopicPartition{TopicID: topic, Partition: 10}
		if _, err := appendWait(t, l, first, testBatch(t, 8)); err != nil {
			t.Fatal(err)
		}
		for p := range int32(5) {
			tp := index.TopicPartition{TopicID: topic, Partition: 11 + p}
			if _, err := appendWait(t, l, tp, testBatch(t, 8)); err != nil {
				t.Fatal(err)
			}
		}
		e.waitIndexed(t, first, 8)
		checkFor(t, func() error {
			if bytes, _ := l.tailStats(); bytes > 4<<10 {
				return fmt.Errorf("%d bytes wait for object storage, want at most a quarter of MaxTailBytes (%d)", bytes, 4<<10)
			}
			return nil
		})
	})
}

// TestFlushTakesAtMostASegment: with more due than a quarter of
// MaxTailBytes, a flush takes the longest waiting partitions up to that
// bound and asks for the next flush at once, which takes the rest.
func TestFlushTakesAtMostASegment(t *testing.T) {
	e := newEnv(t)
	w := e.openWAL(t)
	b := testBatch(t, 40)
	// A quarter of the tail holds three batches and a bit: a flush takes
	// three partitions.
	tail := 4 * (3*len(b) + 1)
	l, err := New(Config{Bucket: e.bucket, Index: e.store, WAL: w, NodeID: "a", PartitionFlushBytes: 1, FlushBytes: tail, MaxTailBytes: tail})
	if err != nil {
		t.Fatal(err)
	}
	var tps []index.TopicPartition
	for p := range int32(8) {
		tp := index.TopicPartition{TopicID: [16]byte{21}, Partition: p}
		tps = append(tps, tp)
		if _, err := appendWait(t, l, tp, b); err != nil {
			t.Fatal(err)
		}
	}
	indexed := func() (n []bool) {
		for _, tp := range tps {
			st, _, err := e.store.LoadPartition(t.Context(), tp)
			if err != nil {
				t.Fatal(err)
			}
			n = append(n, st.HighWatermark == 40)
		}
		return n
	}
	for flush, want := range [][]bool{
		{true, true, true, false, false, false, false, false},
		{true, true, true, true, true, true, false, false},
		{true, true, true, true, true, true, true, true},
	} {
		if err := l.flush(t.Context(), false); err != nil {
			t.Fatal(err)
		}
		if got := indexed(); !slices.Equal(got, want) {
			t.Fatalf("after flush %d, indexed partitions %v, want %v", flush+1, got, want)
		}
		if signalled := len(l.flushNow) == 1; signalled != (flush < 2) {
			t.Fatalf("after flush %d, next flush asked for: %v", flush+1, signalled)
		}
		select {
		case <-l.flushNow:
		default:
		}
	}
}
