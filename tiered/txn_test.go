package tiered

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stratalog/strata/tiered/batch"
	"github.com/stratalog/strata/tiered/index"
)

// txnBatch is a transactional producer's batch of n records.
func txnBatch(t *testing.T, producerID int64, epoch int16, seq int32, n int) []byte {
	t.Helper()
	rs := make([]batch.Record, n)
	for i := range rs {
		rs[i] = batch.Record{Value: []byte{byte(producerID), byte(seq), byte(i)}, Timestamp: 1700000000000}
	}
	b, err := batch.Encode(batch.Batch{Attributes: batch.AttrTransactional, ProducerID: producerID, ProducerEpoch: epoch, BaseSequence: seq, Records: rs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func appendMarker(t *testing.T, l *Log, tp index.TopicPartition, m Marker) int64 {
	t.Helper()
	a, err := l.AppendMarker(t.Context(), tp, m)
	if err == nil {
		err = a.Wait(t.Context())
	}
	if err != nil {
		t.Fatalf("marker %+v: %v", m, err)
	}
	return a.BaseOffset
}

// committedRead reads tp read_committed from offset and returns the base
// offsets of the batches and the aborted transactions it reported.
func committedRead(t *testing.T, l *Log, tp index.TopicPartition, offset int64) ([]int64, []index.AbortedTxn, ReadResult) {
	t.Helper()
	res, err := l.Read(t.Context(), tp, offset, 1<<20, ReadCommitted)
	if err != nil {
		t.Fatal(err)
	}
	var bases []int64
	_ = batch.Each(res.Records, func(_ []byte, h batch.Header) error {
		bases = append(bases, h.BaseOffset)
		return nil
	})
	return bases, res.AbortedTxns, res
}

// TestTransactionsInTheLog: open transactions hold the last stable offset
// back, markers release it, an abort marker enters the aborted index, and
// read_committed reads stop at the LSO and report the aborted transactions
// among what they return; the state survives a flush and a new leader
// (loading it from the index, or replaying it from the WAL), on both tiers.
func TestTransactionsInTheLog(t *testing.T) {
	for _, c := range []struct {
		name    string
		tier    Durability
		flushed bool // the first leader's batches reach the index before it dies
	}{
		{"wal tier, replayed from the wal", DurabilityWAL, false},
		{"wal tier, loaded from the index", DurabilityWAL, true},
		{"s3 tier", DurabilityS3, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			w := e.openWAL(t)
			tier := func(context.Context, index.TopicPartition) (Durability, error) { return c.tier, nil }
			tp := index.TopicPartition{TopicID: [16]byte{42}, Partition: 3}
			var first *Log
			if c.flushed {
				first = e.startLog(t, Config{WAL: w, Durability: tier, NodeID: "a"})
			} else {
				first = e.newUnflushedLog(t, w, "a")
				first.cfg.Durability = tier
			}
			const a, b = 10, 11 // producer ids
			mustAppend := func(data []byte, want int64) {
				t.Helper()
				if off, err := appendWait(t, first, tp, data); err != nil || off != want {
					t.Fatalf("append at %d: %d, %v", want, off, err)
				}
			}
			mustAppend(txnBatch(t, a, 0, 0, 3), 0)
			mustAppend(txnBatch(t, b, 0, 0, 2), 3)
			mustAppend(testBatch(t, 1), 5)
			if o, _ := first.Offsets(t.Context(), tp); o.LastStable != 0 || o.HighWatermark != 6 {
				t.Fatalf("offsets %+v, want LSO 0 (a's transaction is open) and high watermark 6", o)
			}
			if bases, _, res := committedRead(t, first, tp, 0); len(bases) != 0 || res.HighWatermark != 6 || res.LastStableOffset != 0 {
				t.Fatalf("read_committed below an open transaction: %v, %+v", bases, res)
			}
			if off := appendMarker(t, first, tp, Marker{ProducerID: a, ProducerEpoch: 0}); off != 6 {
				t.Fatalf("abort marker at %d, want 6", off)
			}
			bases, aborted, res := committedRead(t, first, tp, 0)
			if !slices.Equal(bases, []int64{0}) || res.LastStableOffset != 3 {
				t.Fatalf("after a's abort: batches %v, LSO %d; want [0] and 3 (b's transaction is open)", bases, res.LastStableOffset)
			}
			wantAborted := []index.AbortedTxn{{ProducerID: a, FirstOffset: 0, LastOffset: 6}}
			if !slices.Equal(aborted, wantAborted) {
				t.Fatalf("aborted %v, want %v", aborted, wantAborted)
			}
			if off := appendMarker(t, first, tp, Marker{ProducerID: b, ProducerEpoch: 0, Commit: true}); off != 7 {
				t.Fatalf("commit marker at %d, want 7", off)
			}
			check := func(l *Log, who string) {
				t.Helper()
				bases, aborted, res := committedRead(t, l, tp, 0)
				if !slices.Equal(bases, []int64{0, 3, 5, 6, 7}) || res.LastStableOffset != 8 || res.HighWatermark != 8 {
					t.Fatalf("%s: batches %v, LSO %d, high watermark %d; want all five and 8, 8", who, bases, res.LastStableOffset, res.HighWatermark)
				}
				if !slices.Equal(aborted, wantAborted) {
					t.Fatalf("%s: aborted %v, want %v", who, aborted, wantAborted)
				}
				// A read past the aborted transaction reports none.
				if _, aborted, _ := committedRead(t, l, tp, 7); len(aborted) != 0 {
					t.Fatalf("%s: a read from 7 reports aborted %v", who, aborted)
				}
			}
			check(first, "leader")
			if c.flushed {
				e.waitIndexed(t, tp, 8)
				if st, _, _ := e.store.LoadPartition(t.Context(), tp); len(st.OpenTxns) != 0 || !slices.Equal(st.Aborted, wantAborted) {
					t.Fatalf("index holds open %v, aborted %v", st.OpenTxns, st.Aborted)
				}
			}
			next := e.startLog(t, Config{WAL: w, Durability: tier, NodeID: "b"})
			check(next, "new leader")

			// A marker with a newer epoch fences the producer's older epoch:
			// its batches and markers are refused from then on.
			mustAppendNext := func(data []byte) (int64, error) { return appendWait(t, next, tp, data) }
			if off, err := mustAppendNext(txnBatch(t, a, 0, 3, 1)); err != nil || off != 8 {
				t.Fatalf("a's next transaction: %d, %v", off, err)
			}
			if o, _ := next.Offsets(t.Context(), tp); o.LastStable != 8 {
				t.Fatalf("LSO %d, want 8", o.LastStable)
			}
			appendMarker(t, next, tp, Marker{ProducerID: a, ProducerEpoch: 1})
			if _, err := mustAppendNext(txnBatch(t, a, 0, 4, 1)); !errors.Is(err, ErrProducerFenced) {
				t.Fatalf("a batch of the fenced epoch: %v, want ErrProducerFenced", err)
			}
			if _, err := next.AppendMarker(t.Context(), tp, Marker{ProducerID: a, ProducerEpoch: 0, Commit: true}); !errors.Is(err, ErrProducerFenced) {
				t.Fatalf("a marker of the fenced epoch: %v, want ErrProducerFenced", err)
			}
			if off, err := mustAppendNext(txnBatch(t, a, 1, 0, 1)); err != nil || off != 10 {
				t.Fatalf("the new epoch's first batch: %d, %v; want 10", off, err)
			}
			_, aborted, res = committedRead(t, next, tp, 0)
			if res.LastStableOffset != 10 || len(aborted) != 2 || aborted[1] != (index.AbortedTxn{ProducerID: a, FirstOffset: 8, LastOffset: 9}) {
				t.Fatalf("LSO %d, aborted %v; want 10 and the second abort [8, 9]", res.LastStableOffset, aborted)
			}
		})
	}
}

// TestAbortedIndexFollowsLogStart: aborted transactions wholly below the
// log start offset are forgotten when it moves.
func TestAbortedIndexFollowsLogStart(t *testing.T) {
	e := newEnv(t)
	l := e.startLog(t, Config{WAL: e.openWAL(t)})
	tp := index.TopicPartition{TopicID: [16]byte{43}}
	for i := range int64(3) {
		if _, err := appendWait(t, l, tp, txnBatch(t, 20+i, 0, 0, 1)); err != nil {
			t.Fatal(err)
		}
		appendMarker(t, l, tp, Marker{ProducerID: 20 + i})
	}
	if _, aborted, _ := committedRead(t, l, tp, 0); len(aborted) != 3 {
		t.Fatalf("aborted %v, want 3", aborted)
	}
	if start, err := l.DeleteRecords(t.Context(), tp, 4); err != nil || start != 4 {
		t.Fatalf("DeleteRecords: %d, %v", start, err)
	}
	want := []index.AbortedTxn{{ProducerID: 22, FirstOffset: 4, LastOffset: 5}}
	if _, aborted, _ := committedRead(t, l, tp, 4); !slices.Equal(aborted, want) {
		t.Fatalf("aborted after the log start moved to 4: %v, want %v", aborted, want)
	}
	// Whether the log start moved before or after the flush, the index
	// ends up without the aborted transactions below it.
	e.waitIndexed(t, tp, 6)
	st, _, err := e.store.LoadPartition(t.Context(), tp)
	if err != nil || !slices.Equal(st.Aborted, want) {
		t.Fatalf("committed aborted index %v (%v), want %v", st.Aborted, err, want)
	}
}

// keyedBatch is one record key=value, transactional for producerID >= 0.
func keyedBatch(t *testing.T, producerID int64, key, value string) []byte {
	t.Helper()
	desc := batch.Batch{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: []batch.Record{{Key: []byte(key), Value: []byte(value), Timestamp: 1700000000000}}}
	if producerID >= 0 {
		desc.Attributes, desc.ProducerID, desc.ProducerEpoch, desc.BaseSequence = batch.AttrTransactional, producerID, 0, 0
	}
	b, err := batch.Encode(desc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCleanRemovesAbortedRecords: key compaction removes the records of
// aborted transactions and never lets one stand as its key's value: the
// committed value of a key an aborted transaction also wrote survives, and
// nothing at or above the last stable offset is cleaned.
func TestCleanRemovesAbortedRecords(t *testing.T) {
	e := newEnv(t)
	l := e.startLog(t, Config{WAL: e.openWAL(t)})
	tp := index.TopicPartition{TopicID: [16]byte{44}}
	for _, b := range [][]byte{
		keyedBatch(t, -1, "k", "committed"),  // 0
		keyedBatch(t, 5, "k", "aborted"),     // 1, aborted at 2
		nil,                                  // 2: abort marker of 5
		keyedBatch(t, 6, "j", "in a commit"), // 3, committed at 4
		nil,                                  // 4: commit marker of 6
	} {
		if b != nil {
			if _, err := appendWait(t, l, tp, b); err != nil {
				t.Fatal(err)
			}
			continue
		}
		o, _ := l.Offsets(t.Context(), tp)
		appendMarker(t, l, tp, Marker{ProducerID: map[int64]int64{2: 5, 4: 6}[o.HighWatermark], Commit: o.HighWatermark == 4})
	}
	// The open transaction comes in a later flush, so that a block ends
	// below the LSO.
	e.waitIndexed(t, tp, 5)
	if _, err := appendWait(t, l, tp, keyedBatch(t, 7, "k", "still open")); err != nil { // 5: holds the LSO
		t.Fatal(err)
	}
	e.waitIndexed(t, tp, 6)
	if _, err := l.Clean(t.Context(), tp, 0, 6, time.Hour, 1<<20, time.Hour); err != nil {
		t.Fatal(err)
	}
	res, err := l.Read(t.Context(), tp, 0, 1<<20, ReadUncommitted)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = batch.Each(res.Records, func(b []byte, h batch.Header) error {
		recs, err := batch.Records(b, 1<<20)
		for _, r := range recs {
			if h.Control() {
				got = append(got, fmt.Sprintf("%d:marker", r.Offset))
			} else {
				got = append(got, fmt.Sprintf("%d:%s=%s", r.Offset, r.Key, r.Value))
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"0:k=committed", "2:marker", "3:j=in a commit", "4:marker", "5:k=still open"}
	if !slices.Equal(got, want) {
		t.Fatalf("after cleaning: %q, want %q", got, want)
	}
}
