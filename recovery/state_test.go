package recovery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered"
	"github.com/stratalog/strata/tiered/batch"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/segment"
)

// logBuilder writes a partition's batches at consecutive offsets, as a leader
// would, and puts them into segment objects.
type logBuilder struct {
	t       *testing.T
	next    int64
	ts      int64 // the records' timestamp
	batches [][]byte
}

// add appends a batch of n records "v<offset>" of producer pid (-1: none)
// from sequence seq, transactional if txn.
func (lb *logBuilder) add(pid int64, seq int32, n int, txn bool) {
	lb.t.Helper()
	bt := batch.Batch{BaseOffset: lb.next, ProducerID: pid, ProducerEpoch: 0, BaseSequence: seq}
	if pid < 0 {
		bt.ProducerEpoch, bt.BaseSequence = -1, -1
	}
	if txn {
		bt.Attributes = batch.AttrTransactional
	}
	for i := range n {
		bt.Records = append(bt.Records, batch.Record{Timestamp: lb.ts, Value: fmt.Appendf(nil, "v%d", lb.next+int64(i))})
	}
	data, err := batch.Encode(bt)
	if err != nil {
		lb.t.Fatal(err)
	}
	lb.batches = append(lb.batches, data)
	lb.next += int64(n)
}

// marker appends producer pid's transaction marker.
func (lb *logBuilder) marker(pid int64, commit bool) {
	m := batch.EncodeMarker(batch.Marker{ProducerID: pid, Commit: commit, Timestamp: lb.ts})
	batch.SetBaseOffset(m, lb.next)
	lb.batches = append(lb.batches, m)
	lb.next++
}

// put writes the batches added since the last put into one segment object
// of partition 0 of testTopic created at created, one block a batch, so
// that a replay reads many blocks.
func (lb *logBuilder) put(ctx context.Context, b objstore.Bucket, created time.Time) {
	lb.t.Helper()
	var buf bytes.Buffer
	w := segment.NewWriter(&buf, segment.WriterOptions{BlockSize: 1})
	for _, data := range lb.batches {
		if err := w.Add(testTopic, 0, data); err != nil {
			lb.t.Fatal(err)
		}
	}
	if _, err := w.Close(); err != nil {
		lb.t.Fatal(err)
	}
	key := fmt.Sprintf("segments/0/%s/%020d-00.seg", created.UTC().Format("2006-01-02"), created.UnixNano())
	if err := b.Put(ctx, key, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
		lb.t.Fatal(err)
	}
	lb.batches = nil
}

// TestRebuildWithoutSnapshotReplaysProducerAndTransactionState: with no
// snapshot, a partition holds an idempotent producer's batches, a committed
// transaction, an aborted one, one still open at the end (its marker was
// only in the lost write-ahead tail), and a producer idle for two days
// before the last write. After the rebuild into a coordinator on NATS, a
// read_committed read through the tiered log skips exactly the aborted and
// the open transactions' records, the open one no longer holds the last
// stable offset back, and the idempotent producer's repeat of its last batch
// is a duplicate at the original offset, a gap is refused, the next batch is
// accepted, and the idle producer is forgotten.
func TestRebuildWithoutSnapshotReplaysProducerAndTransactionState(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	b := newBucket(t)
	// Near now: the log drops producers idle for a day at its flushes.
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	lb := &logBuilder{t: t, ts: t0.UnixMilli()}
	const (
		idle, idem, committed, aborted, open = 6000, 4000, 2000, 3000, 5000
	)
	lb.add(idle, 0, 2, false) // 0-1
	lb.put(ctx, b, t0.Add(-48*time.Hour))
	lb.add(idem, 0, 3, false)     // 2-4
	lb.add(committed, 0, 2, true) // 5-6
	lb.add(aborted, 0, 2, true)   // 7-8
	lb.marker(committed, true)    // 9
	lb.put(ctx, b, t0)
	lb.add(idem, 3, 2, false) // 10-11
	lb.marker(aborted, false) // 12
	lb.add(-1, 0, 2, false)   // 13-14
	lb.add(open, 0, 2, true)  // 15-16
	lb.add(idem, 5, 2, false) // 17-18, the last batch
	lb.put(ctx, b, t0.Add(time.Second))

	store, err := coordinator.Open(ctx, testenv.NATS(t).JetStream(t), coordinator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Rebuild(ctx, Config{Bucket: b, Store: store, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Snapshot != "" || len(sum.Topics) != 1 {
		t.Fatalf("summary %+v", sum)
	}
	if p := sum.Topics[0].Parts[0]; p.HighWatermark != 19 || p.AbortedOpen != 1 {
		t.Errorf("partition %+v", *p)
	}

	l, err := tiered.New(tiered.Config{Bucket: b, Index: store, FlushInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = l.Run(runCtx)
	}()
	t.Cleanup(func() {
		stop()
		<-done
	})
	tp := index.TopicPartition{TopicID: testTopic, Partition: 0}

	visible, abortedTxns, res := readCommitted(ctx, t, l, tp)
	if res.HighWatermark != 19 || res.LastStableOffset != 19 {
		t.Errorf("high watermark %d, last stable offset %d; want 19 and 19", res.HighWatermark, res.LastStableOffset)
	}
	wantAborted := []index.AbortedTxn{{ProducerID: aborted, FirstOffset: 7, LastOffset: 12}, {ProducerID: open, FirstOffset: 15, LastOffset: 18}}
	if !slices.Equal(abortedTxns, wantAborted) {
		t.Errorf("aborted transactions %+v, want %+v", abortedTxns, wantAborted)
	}
	var want []string
	for _, o := range []int64{0, 1, 2, 3, 4, 5, 6, 10, 11, 13, 14, 17, 18} {
		want = append(want, fmt.Sprintf("v%d", o))
	}
	if !slices.Equal(visible, want) {
		t.Errorf("read_committed sees %q, want %q", visible, want)
	}

	// Producer state, as checkSequence judges it.
	idemBatch := func(pid int64, seq int32, n int) []byte {
		bt := batch.Batch{ProducerID: pid, BaseSequence: seq}
		for range n {
			bt.Records = append(bt.Records, batch.Record{Timestamp: lb.ts, Value: []byte("again")})
		}
		data, err := batch.Encode(bt)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	a, err := l.Append(ctx, tp, idemBatch(idem, 5, 2))
	if err != nil || !a.Duplicate || a.BaseOffset != 17 {
		t.Errorf("repeat of the last batch: %+v, %v; want a duplicate at 17", a, err)
	}
	if _, err := l.Append(ctx, tp, idemBatch(idem, 8, 1)); !errors.Is(err, tiered.ErrOutOfOrderSequence) {
		t.Errorf("sequence gap: %v, want ErrOutOfOrderSequence", err)
	}
	if _, err := l.Append(ctx, tp, idemBatch(idle, 2, 1)); !errors.Is(err, tiered.ErrOutOfOrderSequence) {
		t.Errorf("producer idle for two days continues at sequence 2: %v, want ErrOutOfOrderSequence (forgotten)", err)
	}
	a, err = l.Append(ctx, tp, idemBatch(idem, 7, 1))
	if err != nil || a.Duplicate || a.BaseOffset != 19 {
		t.Fatalf("next batch: %+v, %v; want appended at 19", a, err)
	}
	if err := a.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := l.State(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Producers[committed]; !ok || st.OpenTxns != nil {
		t.Errorf("producers %v, open transactions %v", st.Producers, st.OpenTxns)
	}
}

// readCommitted reads tp from its start at read_committed as a Kafka
// consumer does (the Java client's CompletedFetch): records of a
// transactional batch whose producer has an aborted transaction begun at or
// before it are skipped until that producer's abort marker, and control
// batches are never shown. It returns the values seen, the aborted
// transactions the reads returned, and the last read's result.
func readCommitted(ctx context.Context, t *testing.T, l *tiered.Log, tp index.TopicPartition) (values []string, abortedTxns []index.AbortedTxn, res tiered.ReadResult) {
	t.Helper()
	for offset := int64(0); ; {
		var err error
		res, err = l.Read(ctx, tp, offset, 1<<20, tiered.ReadCommitted)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Records) == 0 {
			return values, abortedTxns, res
		}
		abortedPIDs := map[int64]bool{} // per response, as the client keeps it
		queue := slices.Clone(res.AbortedTxns)
		for _, a := range queue {
			if !slices.Contains(abortedTxns, a) {
				abortedTxns = append(abortedTxns, a)
			}
		}
		err = batch.Each(res.Records, func(raw []byte, h batch.Header) error {
			for len(queue) > 0 && queue[0].FirstOffset <= h.LastOffset() {
				abortedPIDs[queue[0].ProducerID] = true
				queue = queue[1:]
			}
			offset = h.LastOffset() + 1
			if h.Control() {
				if typ, err := batch.MarkerType(raw); err == nil && typ == batch.ControlAbort {
					delete(abortedPIDs, h.ProducerID)
				}
				return nil
			}
			if h.Transactional() && abortedPIDs[h.ProducerID] {
				return nil
			}
			recs, err := batch.Records(raw, 1<<20)
			if err != nil {
				return err
			}
			for _, r := range recs {
				values = append(values, string(r.Value))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// countingBucket counts the GETs open at once on a real bucket, from
// GetRange until the reader is closed.
type countingBucket struct {
	objstore.Bucket
	open, most atomic.Int64
}

func (c *countingBucket) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	n := c.open.Add(1)
	for m := c.most.Load(); n > m && !c.most.CompareAndSwap(m, n); m = c.most.Load() {
	}
	rc, err := c.Bucket.GetRange(ctx, key, off, length)
	if err != nil {
		c.open.Add(-1)
		return nil, err
	}
	return &countedReader{ReadCloser: rc, open: &c.open}, nil
}

type countedReader struct {
	io.ReadCloser
	open *atomic.Int64
	once sync.Once
}

func (r *countedReader) Close() error {
	r.once.Do(func() { r.open.Add(-1) })
	return r.ReadCloser.Close()
}

// TestReadBlocks: partitions reading at once share the slots: never more
// GETs open than slots (even one slot, which a partition holding reads
// could otherwise starve the others of), each partition sees its blocks in
// order, and a failed read returns its error with every slot given back.
func TestReadBlocks(t *testing.T) {
	ctx := t.Context()
	fsb := newBucket(t)
	lb := &logBuilder{t: t, ts: 1}
	for range 40 {
		lb.add(-1, 0, 1, false)
	}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	lb.put(ctx, fsb, t0)
	var key string
	if err := fsb.List(ctx, "segments/", func(k string) error { key = k; return nil }); err != nil {
		t.Fatal(err)
	}
	o, err := readFooter(ctx, fsb, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.blocks) != 40 {
		t.Fatalf("%d blocks, want 40", len(o.blocks))
	}
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("slots=%d", n), func(t *testing.T) {
			b := &countingBucket{Bucket: fsb}
			slots := make(chan struct{}, n)
			var wg sync.WaitGroup
			errs := make([]error, 6)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					next := int64(0)
					errs[i] = readBlocks(ctx, b, o.blocks, slots, func(blk segment.IndexEntry, data []byte) error {
						return batch.Each(data, func(_ []byte, h batch.Header) error {
							if h.BaseOffset != next {
								return fmt.Errorf("batch at %d, want %d", h.BaseOffset, next)
							}
							next = h.LastOffset() + 1
							return nil
						})
					})
					if errs[i] == nil && next != 40 {
						errs[i] = fmt.Errorf("read up to %d, want 40", next)
					}
				}()
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			if most := b.most.Load(); most > int64(n) {
				t.Errorf("%d GETs open at once, slots %d", most, n)
			}
			if len(slots) != 0 {
				t.Errorf("%d slots not given back", len(slots))
			}

			broken := slices.Clone(o.blocks)
			broken[20].Object = "segments/gone.seg"
			err := readBlocks(ctx, b, broken, slots, func(segment.IndexEntry, []byte) error { return nil })
			if !errors.Is(err, objstore.ErrNotExist) {
				t.Errorf("reading a missing object: %v, want ErrNotExist", err)
			}
			if len(slots) != 0 {
				t.Errorf("%d slots not given back after a failed read", len(slots))
			}
		})
	}
}
