package tiered

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/batch"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/objstore"
)

// countingBucket counts the GETs of block ranges made through it (footer
// reads, which ask for the rest of an object, are not counted).
type countingBucket struct {
	objstore.Bucket
	gets atomic.Int64
}

func (b *countingBucket) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if length >= 0 {
		b.gets.Add(1)
	}
	return b.Bucket.GetRange(ctx, key, off, length)
}

// prefetchSettled waits until tp's read-ahead has nothing running and
// reaches at least to.
func prefetchSettled(t *testing.T, l *Log, tp index.TopicPartition, to int64) {
	t.Helper()
	testenv.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		l.prefetch.mu.Lock()
		defer l.prefetch.mu.Unlock()
		ra := l.prefetch.parts[tp]
		if ra == nil || ra.running || ra.to < to {
			return fmt.Errorf("read-ahead %+v", ra)
		}
		return nil
	})
	// The GETs it started finish after the run that started them.
	testenv.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if n := len(l.prefetch.gets); n > 0 {
			return fmt.Errorf("%d read-ahead GETs in flight", n)
		}
		return nil
	})
}

// TestPrefetchFollowsColdReader: a reader catching up on a partition whose
// blocks are not cached misses only its first block; the blocks after it
// are fetched ahead, never more than the window, and the reader then finds
// each in the cache, with the same bytes as reading without read-ahead.
func TestPrefetchFollowsColdReader(t *testing.T) {
	e := newEnv(t)
	tp := index.TopicPartition{TopicID: [16]byte{9}}
	_, before := flushedLog(t, e, tp, 20) // 20 flushes: 20 blocks of 10 records

	counting := &countingBucket{Bucket: e.bucket}
	st, _, err := e.store.LoadPartition(t.Context(), tp)
	if err != nil {
		t.Fatal(err)
	}
	blockLen := st.Entries[1].Length
	// A window of about four blocks.
	cold := e.startLog(t, Config{NodeID: "b", Bucket: counting, PrefetchBytes: 4*blockLen + blockLen/2, ObjectGrace: time.Minute})

	res, err := cold.Read(t.Context(), tp, 0, 1, ReadUncommitted) // one batch: offsets 0-9
	if err != nil {
		t.Fatal(err)
	}
	got := append([]byte(nil), res.Records...)
	prefetchSettled(t, cold, tp, 50)
	if n := counting.gets.Load(); n != 1+4 {
		t.Fatalf("%d GETs after the first read, want the missed block and 4 read ahead", n)
	}
	cold.prefetch.mu.Lock()
	to := cold.prefetch.parts[tp].to
	cold.prefetch.mu.Unlock()
	if to != 50 {
		t.Fatalf("read ahead to offset %d, want 50: the window holds four blocks", to)
	}

	// The reader now finds every block in the cache: the read-ahead keeps
	// ahead of it, and it waits for a GET in flight rather than repeating it.
	offset := int64(10)
	for offset < st.HighWatermark {
		res, err := cold.Read(t.Context(), tp, offset, 1, ReadUncommitted)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, res.Records...)
		offset += 10
		if offset < st.HighWatermark {
			prefetchSettled(t, cold, tp, min(offset+40, st.HighWatermark))
		}
	}
	if !bytes.Equal(got, before) {
		t.Fatal("reads with read-ahead differ from the log")
	}
	if n := counting.gets.Load(); n != 20 {
		t.Fatalf("%d GETs for 20 blocks, want each fetched once", n)
	}
	// Past the end, with everything read, it lets go of the partition.
	cold.prefetch.mu.Lock()
	defer cold.prefetch.mu.Unlock()
	if ra := cold.prefetch.parts[tp]; ra != nil || cold.prefetch.ahead != 0 {
		t.Fatalf("after the last read: read-ahead %+v, %d bytes ahead", ra, cold.prefetch.ahead)
	}
}

// TestPrefetchCoalescesMergedBlocks: the blocks of a merged segment lie
// side by side in one object, and the read-ahead fetches them with one
// ranged GET.
func TestPrefetchCoalescesMergedBlocks(t *testing.T) {
	e := newEnv(t)
	tp := index.TopicPartition{TopicID: [16]byte{10}}
	// Small blocks: the merge cuts its output into about one per batch.
	l := e.startLog(t, Config{NodeID: "a", ObjectGrace: time.Minute, BlockSize: 256})
	for i := range 20 {
		if _, err := appendWait(t, l, tp, timedBatch(t, 10, int64(1000*(i+1)), fmt.Sprint("r", i))); err != nil {
			t.Fatal(err)
		}
	}
	testenv.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if st, err := l.State(t.Context(), tp); err != nil || st.HighWatermark != 200 {
			return fmt.Errorf("indexed to %d (%v)", st.HighWatermark, err)
		}
		return nil
	})
	before := readAll(t, l, tp, 0)
	st, err := l.State(t.Context(), tp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Merge(t.Context(), tp, st.Entries, 1<<20, 0); err != nil {
		t.Fatal(err)
	}
	merged, err := l.State(t.Context(), tp)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := l.blocksOf(t.Context(), merged.Entries[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(merged.Entries) != 1 || len(blocks) < 10 {
		t.Fatalf("merge left %d entries, the first of %d blocks; want one of many", len(merged.Entries), len(blocks))
	}

	counting := &countingBucket{Bucket: e.bucket}
	cold := e.startLog(t, Config{NodeID: "b", Bucket: counting, ObjectGrace: time.Minute})
	res, err := cold.Read(t.Context(), tp, 0, 1, ReadUncommitted)
	if err != nil {
		t.Fatal(err)
	}
	prefetchSettled(t, cold, tp, 200)
	if n := counting.gets.Load(); n != 2 {
		t.Fatalf("%d block GETs, want 2: the missed block, then the %d after it in one", n, len(blocks)-1)
	}
	got := append(append([]byte(nil), res.Records...), readAll(t, cold, tp, lastOffset(t, res.Records)+1)...)
	if !bytes.Equal(got, before) {
		t.Fatal("reads with read-ahead differ from the log")
	}
	if n := counting.gets.Load(); n != 2 {
		t.Fatalf("%d block GETs after reading everything, want still 2", n)
	}
}

// lastOffset is the last offset of the batches in b.
func lastOffset(t *testing.T, b []byte) int64 {
	t.Helper()
	last := int64(-1)
	if err := batch.Each(b, func(_ []byte, h batch.Header) error {
		last = h.LastOffset()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return last
}
