package recovery

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/stratalog/strata/tiered/batch"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/objstore/fs"
	"github.com/stratalog/strata/tiered/segment"
)

var testTopic = [16]byte{0x11, 0x22, 0x33, 0x44, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}

// records returns a batch of the offsets [base, last].
func records(t *testing.T, base, last int64) []byte {
	t.Helper()
	b := batch.Batch{BaseOffset: base, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	for o := base; o <= last; o++ {
		b.Records = append(b.Records, batch.Record{Timestamp: 1000 + o, Value: fmt.Appendf(nil, "v%d", o)})
	}
	data, err := batch.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// putSegment writes a segment object at created holding, for partition 0 of
// testTopic, one block per offset range, and returns its key and entries.
func putSegment(t *testing.T, b objstore.Bucket, created time.Time, ranges ...[2]int64) (string, []segment.IndexEntry) {
	t.Helper()
	return putSegmentOf(t, b, testTopic, created, ranges...)
}

// putSegmentOf is putSegment for partition 0 of topic.
func putSegmentOf(t *testing.T, b objstore.Bucket, topic [16]byte, created time.Time, ranges ...[2]int64) (string, []segment.IndexEntry) {
	t.Helper()
	var buf bytes.Buffer
	w := segment.NewWriter(&buf, segment.WriterOptions{BlockSize: 1})
	for _, r := range ranges {
		if err := w.Add(topic, 0, records(t, r[0], r[1])); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("segments/0/%s/%020d-00.seg", created.UTC().Format("2006-01-02"), created.UnixNano())
	if err := b.Put(context.Background(), key, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
		t.Fatal(err)
	}
	for i := range entries {
		entries[i].Object = key
	}
	return key, entries
}

func newBucket(t *testing.T) objstore.Bucket {
	t.Helper()
	b, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRebuildMergedAndAfterSnapshot: the snapshot names two flush objects;
// one was merged away (the merged object holds its offsets and the kept
// one's), and a later flush holds offsets after the snapshot's high
// watermark. The rebuilt index covers every offset once.
func TestRebuildMergedAndAfterSnapshot(t *testing.T) {
	ctx := context.Background()
	b := newBucket(t)
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	_, e1 := putSegment(t, b, t0, [2]int64{0, 49})
	k2, e2 := putSegment(t, b, t0.Add(time.Second), [2]int64{50, 99})
	putSegment(t, b, t0.Add(2*time.Second), [2]int64{0, 29}, [2]int64{30, 99}) // the merge of both
	putSegment(t, b, t0.Add(3*time.Second), [2]int64{100, 119})                // after the snapshot
	deletedTopic, newTopic := [16]byte{0xde}, [16]byte{0x0e}
	putSegmentOf(t, b, deletedTopic, t0.Add(-2*time.Minute), [2]int64{0, 9}) // deleted before the snapshot
	putSegmentOf(t, b, newTopic, t0.Add(5*time.Second), [2]int64{0, 4})      // created after it
	if err := b.Delete(ctx, k2); err != nil {
		t.Fatal(err)
	}
	snap := &Snapshot{ClusterID: "c1", TakenMs: t0.UnixMilli(), NextProducerID: 5000, Topics: []TopicState{{
		Name: "orders", ID: hex.EncodeToString(testTopic[:]), Partitions: 1, Configs: map[string]string{"retention.ms": "-1"},
		States: []PartitionState{{Partition: 0, State: index.Partition{HighWatermark: 100, LeaderEpoch: 3}, Entries: append(e1, e2...)}},
	}}}
	data, err := Encode(snap)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, snapshotKey(t0.Add(1500*time.Millisecond), "0"), bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	sum, err := Rebuild(ctx, Config{Bucket: b, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Topics) != 2 || sum.Topics[0].Topic.Name != "orders" || sum.Topics[0].Generated ||
		sum.Topics[1].Topic.ID != newTopic || !sum.Topics[1].Generated {
		t.Fatalf("topics %+v", sum.Topics)
	}
	if len(sum.DeletedTopics) != 1 || sum.DeletedTopics[0] != deletedTopic {
		t.Errorf("deleted topics %x", sum.DeletedTopics)
	}
	p := sum.Topics[0].Parts[0]
	if p.LogStartOffset != 0 || p.HighWatermark != 120 || p.Records != 120 || p.Uncovered != 0 || p.AboveSnapshot != 20 || p.MissingObjects != 1 {
		t.Errorf("partition %+v", *p)
	}
	if p.state.LeaderEpoch != 3 || len(p.state.Entries) != p.Entries {
		t.Errorf("state %+v", p.state)
	}
	if err := validate(p.state.Entries); err != nil {
		t.Error(err)
	}
	if sum.NextProducerID != 5000+ProducerIDMargin {
		t.Errorf("next producer id %d", sum.NextProducerID)
	}
}

// TestRebuildWithoutSnapshot: with no snapshot the topic comes back under a
// generated name from the footers, and a corrupt object is left out.
func TestRebuildWithoutSnapshot(t *testing.T) {
	ctx := context.Background()
	b := newBucket(t)
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	putSegment(t, b, t0, [2]int64{0, 9})
	putSegment(t, b, t0.Add(time.Second), [2]int64{10, 19})
	junk := []byte("not a segment, but long enough to hold a trailer")
	if err := b.Put(ctx, "segments/0/2026-12-01/00000000000000000001-ff.seg", bytes.NewReader(junk), int64(len(junk))); err != nil {
		t.Fatal(err)
	}
	sum, err := Rebuild(ctx, Config{Bucket: b, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Snapshot != "" || len(sum.BadObjects) != 1 || len(sum.Topics) != 1 || !sum.Topics[0].Generated {
		t.Fatalf("summary %+v", sum)
	}
	if name := sum.Topics[0].Topic.Name; name != GeneratedTopicPrefix+hex.EncodeToString(testTopic[:]) {
		t.Errorf("name %q", name)
	}
	if p := sum.Topics[0].Parts[0]; p.HighWatermark != 20 || p.Records != 20 {
		t.Errorf("partition %+v", *p)
	}
	if sum.NextProducerID != NoSnapshotProducerID {
		t.Errorf("next producer id %d", sum.NextProducerID)
	}
}

// TestSnapshotFormat: a snapshot survives encoding; a flipped byte in the
// JSON, or another format version, is ErrCorrupt.
func TestSnapshotFormat(t *testing.T) {
	snap := &Snapshot{ClusterID: "c", NextProducerID: 7, Txns: map[string][]byte{"tx": []byte(`{"v":1}`)}}
	data, err := Encode(snap)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(data)
	if err != nil || got.ClusterID != "c" || got.NextProducerID != 7 || string(got.Txns["tx"]) != `{"v":1}` {
		t.Fatalf("decoded %+v, %v", got, err)
	}
	for _, env := range []string{
		`{"format":1,"crc32c":1,"snapshot":{"cluster_id":"c"}}`,
		`{"format":2,"crc32c":0,"snapshot":{}}`,
		`not json`,
	} {
		if _, err := Decode(zstdOf(t, env)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", env, err)
		}
	}
	if _, err := Decode([]byte("garbage")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("garbage: %v", err)
	}
	if _, ok := SnapshotTime(snapshotKey(time.Unix(5, 0), "3")); !ok {
		t.Error("SnapshotTime refuses a snapshot key")
	}
}

// validate checks that entries are in order and do not overlap.
func validate(entries []segment.IndexEntry) error {
	for i := 1; i < len(entries); i++ {
		if entries[i].BaseOffset <= entries[i-1].LastOffset {
			return fmt.Errorf("entry %d starts at %d, entry %d ends at %d", i, entries[i].BaseOffset, i-1, entries[i-1].LastOffset)
		}
	}
	return nil
}

func zstdOf(t *testing.T, s string) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll([]byte(s), nil)
}

// TestRebuildReplaysProducerAndTransactionState: after the snapshot (high
// watermark 100, one transaction open since 50) the bucket holds an aborted
// transaction, one still open at the end, and an idempotent producer's
// batch. The rebuilt state has the abort in the aborted index, the newer open
// one aborted (no coordinator knows it any more), the snapshot's open one
// left to the restored coordinator, and every producer's last batch.
func TestRebuildReplaysProducerAndTransactionState(t *testing.T) {
	ctx := context.Background()
	b := newBucket(t)
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	_, e0 := putSegment(t, b, t0, [2]int64{0, 99})
	enc := func(bt batch.Batch) []byte {
		data, err := batch.Encode(bt)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	recs := func(n int) []batch.Record {
		out := make([]batch.Record, n)
		for i := range out {
			out[i] = batch.Record{Timestamp: 5, Value: []byte("v")}
		}
		return out
	}
	marker := batch.EncodeMarker(batch.Marker{ProducerID: 2000, Commit: false, Timestamp: 6})
	batch.SetBaseOffset(marker, 105)
	var after []byte
	after = append(after, enc(batch.Batch{BaseOffset: 100, Attributes: batch.AttrTransactional, ProducerID: 2000, Records: recs(5)})...)
	after = append(after, marker...)
	after = append(after, enc(batch.Batch{BaseOffset: 106, Attributes: batch.AttrTransactional, ProducerID: 3000, Records: recs(2)})...)
	after = append(after, enc(batch.Batch{BaseOffset: 108, ProducerID: 4000, BaseSequence: 7, Records: recs(2)})...)
	var buf bytes.Buffer
	w := segment.NewWriter(&buf, segment.WriterOptions{})
	if err := w.Add(testTopic, 0, after); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("segments/0/2026-12-01/%020d-01.seg", t0.Add(time.Minute).UnixNano())
	if err := b.Put(ctx, key, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
		t.Fatal(err)
	}
	snap := &Snapshot{TakenMs: t0.Add(time.Second).UnixMilli(), Topics: []TopicState{{
		Name: "tx", ID: hex.EncodeToString(testTopic[:]), Partitions: 1,
		States: []PartitionState{{Partition: 0, State: index.Partition{HighWatermark: 100, OpenTxns: map[int64]int64{1000: 50}}, Entries: e0}},
	}}}
	data, err := Encode(snap)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, snapshotKey(t0.Add(time.Second), "0"), bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	sum, err := Rebuild(ctx, Config{Bucket: b, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	p := sum.Topics[0].Parts[0]
	st := p.state
	if p.HighWatermark != 110 || p.AbortedOpen != 1 {
		t.Errorf("partition %+v", *p)
	}
	wantAborted := []index.AbortedTxn{{ProducerID: 2000, FirstOffset: 100, LastOffset: 105}, {ProducerID: 3000, FirstOffset: 106, LastOffset: 109}}
	if !slices.Equal(st.Aborted, wantAborted) {
		t.Errorf("aborted %+v, want %+v", st.Aborted, wantAborted)
	}
	if len(st.OpenTxns) != 1 || st.OpenTxns[1000] != 50 {
		t.Errorf("open transactions %v, want the snapshot's", st.OpenTxns)
	}
	if pr := st.Producers[4000]; len(pr.Batches) != 1 || pr.Batches[0].FirstSequence != 7 || pr.Batches[0].LastSequence != 8 || pr.Batches[0].BaseOffset != 108 {
		t.Errorf("producer 4000: %+v", pr)
	}
	if _, ok := st.Producers[2000]; !ok {
		t.Errorf("producers %v: 2000 missing", st.Producers)
	}
}
