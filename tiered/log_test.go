package tiered

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/batch"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/objstore/fs"
	"github.com/stratalog/strata/tiered/segment"
)

// env is a coordinator and a bucket shared by the logs of one test, like
// gateways sharing NATS and S3.
type env struct {
	store  *coordinator.Store
	bucket objstore.Bucket
	js     jetstream.JetStream
}

func newEnv(t *testing.T) env {
	t.Helper()
	js := testenv.NATS(t).JetStream(t)
	store, err := coordinator.Open(t.Context(), js, coordinator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return env{store: store, bucket: b, js: js}
}

// startLog runs a Log until the test ends.
func (e env) startLog(t *testing.T, cfg Config) *Log {
	t.Helper()
	if cfg.Bucket == nil {
		cfg.Bucket = e.bucket
	}
	if cfg.Index == nil {
		cfg.Index = e.store
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = 5 * time.Millisecond
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = l.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return l
}

func testBatch(t *testing.T, n int) []byte {
	t.Helper()
	rs := make([]batch.Record, n)
	for i := range rs {
		rs[i] = batch.Record{Value: []byte(strings.Repeat("x", 100)), Timestamp: 1700000000000}
	}
	b, err := batch.Encode(batch.Batch{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: rs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func appendWait(t *testing.T, l *Log, tp index.TopicPartition, b []byte) (int64, error) {
	t.Helper()
	a, err := l.Append(t.Context(), tp, b)
	if err != nil {
		return 0, err
	}
	return a.BaseOffset, a.Wait(t.Context())
}

// TestFencedWriterCannotCommit: a second log taking a partition claims it with a
// higher epoch; the first log's next commit fails with ErrNotLeader and none of
// its later records becomes visible.
func TestFencedWriterCannotCommit(t *testing.T) {
	e := newEnv(t)
	tp := index.TopicPartition{TopicID: [16]byte{1}, Partition: 0}
	zombie := e.startLog(t, Config{NodeID: "a"})
	if off, err := appendWait(t, zombie, tp, testBatch(t, 3)); err != nil || off != 0 {
		t.Fatalf("first append: %d, %v", off, err)
	}
	leader := e.startLog(t, Config{NodeID: "b"})
	if off, err := appendWait(t, leader, tp, testBatch(t, 2)); err != nil || off != 3 {
		t.Fatalf("new leader's append: %d, %v", off, err)
	}
	if _, err := appendWait(t, zombie, tp, testBatch(t, 4)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("zombie append after takeover: %v, want ErrNotLeader", err)
	}
	res, err := leader.Read(t.Context(), tp, 0, 1<<20, ReadUncommitted)
	if err != nil {
		t.Fatal(err)
	}
	if res.HighWatermark != 5 {
		t.Fatalf("high watermark %d, want 5: the zombie's records must not be visible", res.HighWatermark)
	}
	var offsets []int64
	_ = batch.Each(res.Records, func(_ []byte, h batch.Header) error {
		offsets = append(offsets, h.BaseOffset, h.LastOffset())
		return nil
	})
	if want := []int64{0, 2, 3, 4}; !equal(offsets, want) {
		t.Fatalf("batches span %v, want %v", offsets, want)
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestOneSegmentPerFlush: batches of twenty partitions queued together are
// written as one object, whose footer indexes each partition.
func TestOneSegmentPerFlush(t *testing.T) {
	e := newEnv(t)
	const parts = 20
	b := testBatch(t, 5)
	// No timer flush: the twentieth batch reaches FlushBytes and starts it.
	l := e.startLog(t, Config{FlushInterval: time.Hour, FlushBytes: parts * len(b)})
	var wg sync.WaitGroup
	for p := range int32(parts) {
		wg.Go(func() {
			tp := index.TopicPartition{TopicID: [16]byte{2}, Partition: p}
			if off, err := appendWait(t, l, tp, append([]byte(nil), b...)); err != nil || off != 0 {
				t.Errorf("partition %d: offset %d, %v", p, off, err)
			}
		})
	}
	wg.Wait()
	var keys []string
	if err := e.bucket.List(t.Context(), "segments/", func(k string) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Fatalf("%d segment objects, want 1: %v", len(keys), keys)
	}
	size, err := e.bucket.Size(t.Context(), keys[0])
	if err != nil {
		t.Fatal(err)
	}
	entries, err := segment.ReadIndex(readerAt{e.bucket, keys[0]}, size)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int32]bool{}
	for _, en := range entries {
		seen[en.Partition] = true
	}
	if len(seen) != parts {
		t.Fatalf("footer indexes %d partitions, want %d", len(seen), parts)
	}
}

// readerAt reads an object with ranged GETs.
type readerAt struct {
	b   objstore.Bucket
	key string
}

func (r readerAt) ReadAt(p []byte, off int64) (int, error) {
	rc, err := r.b.GetRange(context.Background(), r.key, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.ReadFull(rc, p)
}

// blockingBucket fails every Put until released: an object store outage on
// demand, which a real MinIO cannot give a test deterministically.
type blockingBucket struct {
	objstore.Bucket
	mu   sync.Mutex
	down bool
}

var errOutage = errors.New("injected outage")

func (b *blockingBucket) setDown(down bool) {
	b.mu.Lock()
	b.down = down
	b.mu.Unlock()
}

func (b *blockingBucket) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	b.mu.Lock()
	down := b.down
	b.mu.Unlock()
	if down {
		return errOutage
	}
	return b.Bucket.Put(ctx, key, r, size)
}

// TestOutageBackpressureAndRecovery: while the store is down, appends wait (no
// acknowledgement without durability) and, past MaxTailBytes, are refused with
// ErrBackpressure; when it returns, the waiting batches commit once each and the
// queue budget is free again.
func TestOutageBackpressureAndRecovery(t *testing.T) {
	e := newEnv(t)
	bucket := &blockingBucket{Bucket: e.bucket, down: true}
	b := testBatch(t, 5)
	l := e.startLog(t, Config{Bucket: bucket, FlushBytes: len(b), MaxTailBytes: 4 * len(b)})
	tp := index.TopicPartition{TopicID: [16]byte{3}, Partition: 0}

	var waiting []*Appended
	for {
		a, err := l.Append(t.Context(), tp, append([]byte(nil), b...))
		if errors.Is(err, ErrBackpressure) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		waiting = append(waiting, a)
		if len(waiting) > 100 {
			t.Fatal("no backpressure after 100 appends to a store that is down")
		}
	}
	if len(waiting) == 0 {
		t.Fatal("first append already refused")
	}
	if o, _ := l.Offsets(t.Context(), tp); o.HighWatermark != 0 {
		t.Fatalf("high watermark %d during the outage, want 0", o.HighWatermark)
	}
	bucket.setDown(false)
	for i, a := range waiting {
		if err := a.Wait(t.Context()); err != nil {
			t.Fatalf("batch %d after recovery: %v", i, err)
		}
	}
	// The budget is released: as many appends fit again.
	for range len(waiting) {
		if _, err := appendWait(t, l, tp, append([]byte(nil), b...)); err != nil {
			t.Fatalf("append after recovery: %v", err)
		}
	}
	o, err := l.Offsets(t.Context(), tp)
	hw := o.HighWatermark
	if err != nil || hw != int64(2*len(waiting)*5) {
		t.Fatalf("high watermark %d (%v), want %d", hw, err, 2*len(waiting)*5)
	}
}

// TestStaleClaimIsNoticedOnRead: leadership moved to another log and back
// without this one noticing; a read at its (stale) high watermark finds the
// other's commit, reloads, and serves the new records.
func TestStaleClaimIsNoticedOnRead(t *testing.T) {
	e := newEnv(t)
	tp := index.TopicPartition{TopicID: [16]byte{2}, Partition: 0}
	first := e.startLog(t, Config{NodeID: "a", VerifyInterval: time.Millisecond})
	if _, err := appendWait(t, first, tp, testBatch(t, 3)); err != nil {
		t.Fatal(err)
	}
	other := e.startLog(t, Config{NodeID: "b"})
	if _, err := appendWait(t, other, tp, testBatch(t, 2)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // past VerifyInterval
	res, err := first.Read(t.Context(), tp, 3, 1<<20, ReadUncommitted)
	if err != nil {
		t.Fatal(err)
	}
	if res.HighWatermark != 5 || len(res.Records) == 0 {
		t.Fatalf("read at the stale high watermark: hw %d, %d bytes; want the other log's records up to 5", res.HighWatermark, len(res.Records))
	}
}

// TestStaleClaimChecksAreBudgeted: the checks of TestStaleClaimIsNoticedOnRead
// share the Log's VerifyRate. With room for one a second, of two stale
// partitions read at once only the first is checked and reloaded; the
// second is checked once the budget has refilled.
func TestStaleClaimChecksAreBudgeted(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	var clock sync.Mutex
	tps := []index.TopicPartition{{TopicID: [16]byte{4}, Partition: 0}, {TopicID: [16]byte{4}, Partition: 1}}
	first := e.startLog(t, Config{NodeID: "a", VerifyInterval: time.Millisecond, VerifyRate: 1, Now: func() time.Time {
		clock.Lock()
		defer clock.Unlock()
		return now
	}})
	other := e.startLog(t, Config{NodeID: "b"})
	for _, tp := range tps {
		if _, err := appendWait(t, first, tp, testBatch(t, 3)); err != nil {
			t.Fatal(err)
		}
		if _, err := appendWait(t, other, tp, testBatch(t, 2)); err != nil {
			t.Fatal(err)
		}
	}
	advance := func(d time.Duration) {
		clock.Lock()
		now = now.Add(d)
		clock.Unlock()
	}
	advance(2 * time.Millisecond) // past VerifyInterval
	read := func(tp index.TopicPartition) int64 {
		t.Helper()
		res, err := first.Read(t.Context(), tp, 3, 1<<20, ReadUncommitted)
		if err != nil {
			t.Fatal(err)
		}
		return res.HighWatermark
	}
	if hw := read(tps[0]); hw != 5 {
		t.Fatalf("partition 0, checked: high watermark %d, want the other log's 5", hw)
	}
	if hw := read(tps[1]); hw != 3 {
		t.Fatalf("partition 1, over the budget: high watermark %d, want this log's stale 3 (no check)", hw)
	}
	advance(time.Second)
	if hw := read(tps[1]); hw != 5 {
		t.Fatalf("partition 1, a second later: high watermark %d, want the other log's 5", hw)
	}
}

// TestMayClaimRefuses: a log whose MayClaim refuses cannot take a partition.
func TestMayClaimRefuses(t *testing.T) {
	e := newEnv(t)
	tp := index.TopicPartition{TopicID: [16]byte{3}, Partition: 0}
	refusal := errors.New("not ours")
	l := e.startLog(t, Config{NodeID: "a", MayClaim: func(context.Context, index.TopicPartition) error { return refusal }})
	if _, err := appendWait(t, l, tp, testBatch(t, 1)); !errors.Is(err, ErrNotLeader) || !errors.Is(err, refusal) {
		t.Fatalf("append without the claim: %v, want ErrNotLeader wrapping the refusal", err)
	}
	if rev, err := e.store.PartitionRevision(t.Context(), tp); err != nil || rev != 0 {
		t.Fatalf("the refused claim wrote revision %d (%v)", rev, err)
	}
}

// countingIndex counts the partitions read one at a time.
type countingIndex struct {
	*coordinator.Store
	single *atomic.Int64
}

func (c countingIndex) LoadPartition(ctx context.Context, tp index.TopicPartition) (index.Partition, uint64, error) {
	c.single.Add(1)
	return c.Store.LoadPartition(ctx, tp)
}

// TestLoadReadsStatesTogether: a Log taking over many partitions at once
// (Load) reads their committed states in one pass, not one request each,
// and claims each from its own state: the next epoch and the high
// watermark the first Log left, and epoch 1 and offset 0 for a partition
// never written.
func TestLoadReadsStatesTogether(t *testing.T) {
	e := newEnv(t)
	const written, fresh = 80, 20
	topic := [16]byte{9, 9}
	first := e.startLog(t, Config{})
	var wg sync.WaitGroup
	for p := range int32(written) {
		wg.Go(func() {
			tp := index.TopicPartition{TopicID: topic, Partition: p}
			for i := range int(p%3) + 1 {
				if off, err := appendWait(t, first, tp, testBatch(t, 2)); err != nil || off != int64(2*i) {
					t.Errorf("partition %d batch %d: offset %d, %v", p, i, off, err)
				}
			}
		})
	}
	wg.Wait()

	var single atomic.Int64
	second := e.startLog(t, Config{Index: countingIndex{e.store, &single}})
	var tps []index.TopicPartition
	for p := range int32(written + fresh) {
		tps = append(tps, index.TopicPartition{TopicID: topic, Partition: p})
	}
	second.Load(t.Context(), tps)
	if n := single.Load(); n != 0 {
		t.Fatalf("%d partitions read one at a time, want none", n)
	}
	for _, tp := range tps {
		want := int64(0)
		if tp.Partition < written {
			want = 2 * (int64(tp.Partition%3) + 1)
		}
		o, err := second.Offsets(t.Context(), tp)
		if err != nil || o.HighWatermark != want {
			t.Fatalf("partition %d: high watermark %d, %v; want %d", tp.Partition, o.HighWatermark, err, want)
		}
		epoch, err := second.LeaderEpoch(t.Context(), tp)
		wantEpoch := int32(1)
		if tp.Partition < written {
			wantEpoch = 2
		}
		if err != nil || epoch != wantEpoch {
			t.Fatalf("partition %d: leader epoch %d, %v; want %d", tp.Partition, epoch, err, wantEpoch)
		}
		if off, err := appendWait(t, second, tp, testBatch(t, 1)); err != nil || off != want {
			t.Fatalf("partition %d: appended at %d, %v; want %d", tp.Partition, off, err, want)
		}
	}
	if n := single.Load(); n != 0 {
		t.Fatalf("%d partitions read one at a time, want none", n)
	}
}
