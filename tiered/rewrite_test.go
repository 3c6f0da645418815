package tiered

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/batch"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/segment"
)

// timedBatch is a batch of n records stamped ts.
func timedBatch(t *testing.T, n int, ts int64, tag string) []byte {
	t.Helper()
	rs := make([]batch.Record, n)
	for i := range rs {
		rs[i] = batch.Record{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "%s-%d", tag, i), Timestamp: ts + int64(i)}
	}
	b, err := batch.Encode(batch.Batch{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: rs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// flushedLog appends rounds batches of 10 records, each flushed on its own,
// and returns the log and what it holds, read back before any merge.
func flushedLog(t *testing.T, e env, tp index.TopicPartition, rounds int) (*Log, []byte) {
	t.Helper()
	l := e.startLog(t, Config{NodeID: "a", ObjectGrace: time.Minute})
	for i := range rounds {
		if _, err := appendWait(t, l, tp, timedBatch(t, 10, int64(1000*(i+1)), fmt.Sprint("r", i))); err != nil {
			t.Fatal(err)
		}
		// One flush per batch, so one index entry each.
		testenv.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
			st, err := l.State(t.Context(), tp)
			if err != nil || st.HighWatermark != int64(10*(i+1)) {
				return fmt.Errorf("indexed to %d (%v)", st.HighWatermark, err)
			}
			return nil
		})
	}
	return l, readAll(t, l, tp, 0)
}

// readAll reads tp from offset to its high watermark.
func readAll(t *testing.T, l *Log, tp index.TopicPartition, offset int64) []byte {
	t.Helper()
	var out []byte
	for {
		res, err := l.Read(t.Context(), tp, offset, 1<<10, ReadUncommitted)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Records) == 0 {
			return out
		}
		out = append(out, res.Records...)
		err = batch.Each(res.Records, func(_ []byte, h batch.Header) error {
			offset = h.LastOffset() + 1
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestMergeKeepsReads: merging every flush block of a partition into one
// whole-segment entry changes no read: the same bytes from every offset,
// ListOffsets by timestamp, OffsetForLeaderEpoch, a fetch holding the state
// from before the merge, and appends after it.
func TestMergeKeepsReads(t *testing.T) {
	e := newEnv(t)
	tp := index.TopicPartition{TopicID: [16]byte{7}}
	l, before := flushedLog(t, e, tp, 20)
	st, err := l.State(t.Context(), tp)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Entries) != 20 {
		t.Fatalf("%d entries before the merge, want one per flush", len(st.Entries))
	}
	p, err := l.partition(t.Context(), tp)
	if err != nil {
		t.Fatal(err)
	}
	old := p.snapshot() // a fetch in flight across the merge

	r, err := l.Merge(t.Context(), tp, st.Entries, 1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	after, err := l.State(t.Context(), tp)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Entries) != 1 || !after.Entries[0].Whole || r.EntriesBefore != len(st.Entries) || r.EntriesAfter != 1 {
		t.Fatalf("after the merge: %d entries (%+v)", len(after.Entries), r)
	}
	if after.LeaderEpoch != st.LeaderEpoch || after.HighWatermark != st.HighWatermark {
		t.Fatalf("merge changed epoch or high watermark: %+v", after)
	}
	if got := readAll(t, l, tp, 0); !bytes.Equal(got, before) {
		t.Fatal("reads after the merge differ")
	}
	for _, off := range []int64{0, 5, 99, 150, 199} {
		if got, want := readAll(t, l, tp, off), readFrom(t, before, off); !bytes.Equal(got, want) {
			t.Fatalf("read from %d differs after the merge", off)
		}
	}
	res, err := l.readState(t.Context(), tp, old, 42, 1<<20, false)
	if err != nil || len(res.Records) == 0 {
		t.Fatalf("a read of the state before the merge: %d bytes, %v", len(res.Records), err)
	}
	for _, c := range []struct{ ts, off int64 }{{1000, 0}, {5005, 45}, {20_009, 199}} {
		off, _, found, err := l.OffsetForTimestamp(t.Context(), tp, c.ts)
		if err != nil || !found || off != c.off {
			t.Fatalf("offset for timestamp %d: %d %v %v, want %d", c.ts, off, found, err, c.off)
		}
	}
	if off, ts, found, err := l.OffsetForTimestamp(t.Context(), tp, TimestampMax); err != nil || !found || off != 199 || ts != 20_009 {
		t.Fatalf("max timestamp: offset %d ts %d %v %v", off, ts, found, err)
	}
	if epoch, end, err := l.EndOffsetFor(t.Context(), tp, st.LeaderEpoch); err != nil || epoch != st.LeaderEpoch || end != 200 {
		t.Fatalf("end offset for epoch %d: %d %d %v", st.LeaderEpoch, epoch, end, err)
	}
	if off, err := appendWait(t, l, tp, timedBatch(t, 10, 30_000, "after")); err != nil || off != 200 {
		t.Fatalf("append after the merge: %d %v", off, err)
	}
	// A new leader reads the merged index from the coordinator.
	l2 := e.startLog(t, Config{NodeID: "b"})
	if got := readAll(t, l2, tp, 0); !bytes.Equal(got[:len(before)], before) {
		t.Fatal("a new leader reads different bytes")
	}
}

// readFrom returns the batches of log whose last offset is at or after off.
func readFrom(t *testing.T, log []byte, off int64) []byte {
	t.Helper()
	var out []byte
	if err := batch.Each(log, func(b []byte, h batch.Header) error {
		if h.LastOffset() >= off {
			out = append(out, b...)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStaleMergeRefused: a leader plans and writes a merge, another gateway
// takes the partition over before the commit: the deposed leader's merge is
// refused (ErrNotLeader) and the new leader's index is untouched.
func TestStaleMergeRefused(t *testing.T) {
	e := newEnv(t)
	tp := index.TopicPartition{TopicID: [16]byte{8}}
	deposed, _ := flushedLog(t, e, tp, 12)
	st, err := deposed.State(t.Context(), tp)
	if err != nil {
		t.Fatal(err)
	}
	var leader *Log
	deposed.cfg.StepHook = func(step string) {
		if step == "merge:written" && leader == nil {
			leader = e.startLog(t, Config{NodeID: "b"})
			if _, err := leader.State(t.Context(), tp); err != nil { // the takeover's claim
				t.Error(err)
			}
		}
	}
	if _, err := deposed.Merge(t.Context(), tp, st.Entries, 1<<20, 0); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("a deposed leader's merge: %v, want ErrNotLeader", err)
	}
	now, _, err := e.store.LoadPartition(t.Context(), tp)
	if err != nil {
		t.Fatal(err)
	}
	if len(now.Entries) != len(st.Entries) || now.Entries[0].Whole {
		t.Fatalf("the new leader's index changed: %d entries", len(now.Entries))
	}
}

// TestStaleReplacementRefused: a replacement whose run is no longer in the
// index (an expiry got there first), or whose objects are older than the
// grace, changes nothing.
func TestStaleReplacementRefused(t *testing.T) {
	e := newEnv(t)
	tp := index.TopicPartition{TopicID: [16]byte{9}}
	l, _ := flushedLog(t, e, tp, 4)
	st, err := l.State(t.Context(), tp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.DeleteRecords(t.Context(), tp, 15); err != nil {
		t.Fatal(err)
	}
	whole := st.Entries[0]
	whole.Whole, whole.LastOffset = true, st.Entries[1].LastOffset
	err = l.ReplaceEntries(t.Context(), tp, Replacement{Old: st.Entries[:2], New: []segment.IndexEntry{whole}, Written: time.Now()})
	if !errors.Is(err, ErrStaleEdit) {
		t.Fatalf("replacing expired entries: %v, want ErrStaleEdit", err)
	}
	cur, _ := l.State(t.Context(), tp)
	err = l.ReplaceEntries(t.Context(), tp, Replacement{Old: cur.Entries[1:2], New: cur.Entries[1:2], Written: time.Now().Add(-2 * time.Minute)})
	if !errors.Is(err, ErrStaleEdit) {
		t.Fatalf("committing objects past the grace: %v, want ErrStaleEdit", err)
	}
}
