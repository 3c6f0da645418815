package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/coordinator/schedule"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/gc"
	"github.com/stratalog/strata/tiered/index"
)

// lifecycleEnv is a gateway with the lifecycle parts strata serve runs next
// to it, driven pass by pass by the test.
type lifecycleEnv struct {
	b         *backend
	ts        *testServer
	adm       *kadm.Client
	ctx       context.Context
	scheduler *schedule.Scheduler
	collector *gc.Collector
}

// testGrace is the collector's grace in these tests: short, and still longer
// than any flush's commit here.
const testGrace = time.Second

func newLifecycleEnv(t *testing.T) *lifecycleEnv {
	t.Helper()
	b := newBackend(t, 0)
	ts := b.gateway(t, serverOpts{}, 0, "", false)
	adm, ctx := adminClient(t, ts)
	sch, err := schedule.New(schedule.Config{
		Topics:  b.store,
		Logs:    ts.log,
		Leads:   func(coordinator.Topic, int32) bool { return true },
		Configs: EffectiveTopicConfigs,
	})
	if err != nil {
		t.Fatal(err)
	}
	col, err := gc.New(gc.Config{
		Bucket: b.bucket,
		Index:  b.store,
		Live:   func(id [16]byte) bool { _, ok := b.store.TopicByID(id); return ok },
		Grace:  testGrace,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &lifecycleEnv{b: b, ts: ts, adm: adm, ctx: ctx, scheduler: sch, collector: col}
}

// createTopic creates a one-partition topic with configs.
func (e *lifecycleEnv) createTopic(t *testing.T, name string, configs map[string]string) index.TopicPartition {
	t.Helper()
	cfg := map[string]*string{}
	for k, v := range configs {
		cfg[k] = &v
	}
	if _, err := e.adm.CreateTopic(e.ctx, 1, 1, cfg, name); err != nil {
		t.Fatal(err)
	}
	return index.TopicPartition{TopicID: e.ts.topicID(t, name), Partition: 0}
}

// produce writes n records with values prefix-i and timestamp ts, and waits
// until they are flushed to the index.
func (e *lifecycleEnv) produce(t *testing.T, topic, prefix string, n int, ts time.Time) {
	t.Helper()
	cl := e.ts.client(t, kgo.DefaultProduceTopic(topic))
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: fmt.Appendf(nil, "%s-%d", prefix, i), Timestamp: ts})
	}
	if err := cl.ProduceSync(e.ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	tp := index.TopicPartition{TopicID: e.ts.topicID(t, topic)}
	o, err := e.ts.log.Offsets(e.ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	end := o.HighWatermark
	testenv.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		st, err := e.ts.log.State(e.ctx, tp)
		if err != nil || st.HighWatermark != end {
			return fmt.Errorf("indexed up to %d of %d (%v)", st.HighWatermark, end, err)
		}
		return nil
	})
}

// startOffset is ListOffsets earliest for partition 0 of topic.
func (e *lifecycleEnv) startOffset(t *testing.T, topic string) int64 {
	t.Helper()
	offs, err := e.adm.ListStartOffsets(e.ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := offs.Lookup(topic, 0)
	if !ok || o.Err != nil {
		t.Fatalf("list start offset of %s: %v", topic, o.Err)
	}
	return o.Offset
}

// fetchCode fetches partition 0 of topic at offset and returns the error code.
func (e *lifecycleEnv) fetchCode(t *testing.T, topic string, offset int64) int16 {
	t.Helper()
	cl := e.ts.client(t)
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 10, 1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, e.ts.topicID(t, topic)
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = offset, 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(e.ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// objects returns the segment objects in the bucket.
func (e *lifecycleEnv) objects(t *testing.T) []string {
	t.Helper()
	var keys []string
	if err := e.b.bucket.List(e.ctx, gc.DefaultPrefix, func(k string) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	return keys
}

// referenced returns the objects the committed indexes reference.
func (e *lifecycleEnv) referenced(t *testing.T) []string {
	t.Helper()
	tps, err := e.b.store.Partitions(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, tp := range tps {
		st, _, err := e.b.store.LoadPartition(e.ctx, tp)
		if err != nil {
			t.Fatal(err)
		}
		for _, en := range st.Entries {
			keys = append(keys, en.Object)
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// collectUntilClean runs collection passes until the bucket holds exactly the
// referenced objects (bounded: a few grace periods).
func (e *lifecycleEnv) collectUntilClean(t *testing.T) {
	t.Helper()
	testenv.CheckFor(t, 10*testGrace, 50*time.Millisecond, func() error {
		if _, err := e.collector.Pass(e.ctx); err != nil {
			return err
		}
		have, want := e.objects(t), e.referenced(t)
		if !slices.Equal(have, want) {
			return fmt.Errorf("bucket holds %d objects, the index references %d", len(have), len(want))
		}
		return nil
	})
}

// consumeFrom reads partition 0 of topic from offset with franz-go, resetting
// to the earliest offset on OFFSET_OUT_OF_RANGE as a consumer with
// auto.offset.reset=earliest does, until it has read up to end.
func (e *lifecycleEnv) consumeFrom(t *testing.T, topic string, offset, end int64) []*kgo.Record {
	t.Helper()
	cl := e.ts.client(t,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(offset)}}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) == 0 || out[len(out)-1].Offset < end-1 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d records, up to %v, before the timeout", len(out), out)
		}
		for _, err := range fs.Errors() {
			t.Fatalf("fetch: %v", err.Err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func TestRetentionByTime(t *testing.T) {
	e := newLifecycleEnv(t)
	tp := e.createTopic(t, "expiring", map[string]string{"retention.ms": "10000"})
	e.produce(t, "expiring", "old", 300, time.Now().Add(-time.Hour))
	objectsOld := e.objects(t)
	e.produce(t, "expiring", "new", 200, time.Now())
	if got := e.startOffset(t, "expiring"); got != 0 {
		t.Fatalf("log start %d before expiry, want 0", got)
	}
	e.scheduler.Pass(e.ctx)
	if got := e.startOffset(t, "expiring"); got != 300 {
		t.Fatalf("log start %d after expiry, want 300", got)
	}
	if code := e.fetchCode(t, "expiring", 10); code != kerr.OffsetOutOfRange.Code {
		t.Fatalf("fetch below the log start: code %d, want OFFSET_OUT_OF_RANGE", code)
	}
	recs := e.consumeFrom(t, "expiring", 10, 500)
	if len(recs) != 200 || recs[0].Offset != 300 || string(recs[0].Value) != "new-0" {
		t.Fatalf("consumer reset to %d records from offset %d (%q), want 200 from 300", len(recs), recs[0].Offset, recs[0].Value)
	}
	// The records still live keep the log; the expired ones' objects go.
	st, err := e.ts.log.State(e.ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries[0].BaseOffset < 300 {
		t.Fatalf("index still starts at %d", st.Entries[0].BaseOffset)
	}
	e.collectUntilClean(t)
	left := e.objects(t)
	for _, k := range objectsOld {
		if slices.Contains(left, k) {
			t.Errorf("object %s of expired records still in the bucket", k)
		}
	}
	t.Logf("objects: %d before expiry, %d after collection", len(objectsOld)+1, len(left))
}

func TestRetentionByBytes(t *testing.T) {
	e := newLifecycleEnv(t)
	e.createTopic(t, "capped", nil)
	for i := range 5 {
		e.produce(t, "capped", fmt.Sprint("round", i), 100, time.Now())
	}
	tp := index.TopicPartition{TopicID: e.ts.topicID(t, "capped")}
	st, err := e.ts.log.State(e.ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	for _, en := range st.Entries {
		size += en.Length
	}
	// Keep about two fifths: retention.bytes applies to whole blocks, oldest
	// first, while the rest still holds at least the limit.
	limit := size * 2 / 5
	if _, err := e.adm.AlterTopicConfigs(e.ctx, []kadm.AlterConfig{{Name: "retention.bytes", Value: kadm.StringPtr(fmt.Sprint(limit))}}, "capped"); err != nil {
		t.Fatal(err)
	}
	// The alter reaches the topic table before the response; no wait needed.
	e.scheduler.Pass(e.ctx)
	st, err = e.ts.log.State(e.ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	var kept int64
	for _, en := range st.Entries {
		kept += en.Length
	}
	if kept < limit || kept-st.Entries[0].Length >= limit {
		t.Fatalf("kept %d bytes in %d blocks for retention.bytes %d: want the fewest blocks holding at least the limit", kept, len(st.Entries), limit)
	}
	if got := e.startOffset(t, "capped"); got != st.Entries[0].BaseOffset || got == 0 {
		t.Fatalf("log start %d, first block at %d", got, st.Entries[0].BaseOffset)
	}
	e.collectUntilClean(t)
}

func TestDeleteRecords(t *testing.T) {
	e := newLifecycleEnv(t)
	e.createTopic(t, "trimmed", nil)
	e.produce(t, "trimmed", "a", 400, time.Now())
	e.produce(t, "trimmed", "b", 100, time.Now())

	resp, err := e.adm.DeleteRecords(e.ctx, offsets("trimmed", 250))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := resp.Lookup("trimmed", 0)
	if r.Err != nil || r.LowWatermark != 250 {
		t.Fatalf("delete records: low watermark %d, err %v; want 250", r.LowWatermark, r.Err)
	}
	if got := e.startOffset(t, "trimmed"); got != 250 {
		t.Fatalf("log start %d, want 250", got)
	}
	if code := e.fetchCode(t, "trimmed", 249); code != kerr.OffsetOutOfRange.Code {
		t.Fatalf("fetch at 249: code %d, want OFFSET_OUT_OF_RANGE", code)
	}
	recs := e.consumeFrom(t, "trimmed", 250, 500)
	if recs[0].Offset != 250 || string(recs[0].Value) != "a-250" || len(recs) != 250 {
		t.Fatalf("read %d records from %d (%q), want 250 from 250", len(recs), recs[0].Offset, recs[0].Value)
	}
	// Lower is a no-op answered with the current start; past the end is
	// refused; -1 is the high watermark.
	for _, c := range []struct {
		offset, low int64
		err         error
	}{{100, 250, nil}, {501, -1, kerr.OffsetOutOfRange}, {-1, 500, nil}} {
		resp, err := e.adm.DeleteRecords(e.ctx, offsets("trimmed", c.offset))
		if err != nil {
			t.Fatal(err)
		}
		r, _ := resp.Lookup("trimmed", 0)
		if !errors.Is(r.Err, c.err) || (c.err == nil && r.LowWatermark != c.low) {
			t.Errorf("delete records below %d: low %d err %v; want %d, %v", c.offset, r.LowWatermark, r.Err, c.low, c.err)
		}
	}
	e.collectUntilClean(t)
	if n := len(e.objects(t)); n != 0 {
		t.Fatalf("%d objects left after deleting every record", n)
	}
	// Produce continues after the end.
	e.produce(t, "trimmed", "c", 10, time.Now())
	recs = e.consumeFrom(t, "trimmed", 500, 510)
	if recs[0].Offset != 500 || string(recs[0].Value) != "c-0" {
		t.Fatalf("after trimming everything, read %q at %d", recs[0].Value, recs[0].Offset)
	}
}

func offsets(topic string, offset int64) kadm.Offsets {
	o := kadm.Offsets{}
	o.AddOffset(topic, 0, offset, -1)
	return o
}

func TestDeletedTopicCollected(t *testing.T) {
	e := newLifecycleEnv(t)
	tp := e.createTopic(t, "doomed", nil)
	e.createTopic(t, "kept", nil)
	e.produce(t, "doomed", "x", 100, time.Now())
	e.produce(t, "kept", "y", 100, time.Now())
	cl := e.ts.client(t)
	offs := kadm.Offsets{}
	offs.AddOffset("doomed", 0, 50, -1)
	if _, err := kadm.NewClient(cl).CommitOffsets(e.ctx, "g", offs); err != nil {
		t.Fatal(err)
	}
	if _, err := e.adm.DeleteTopic(e.ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	if got, err := e.b.store.FetchOffsets(e.ctx, "g", "doomed"); err != nil || len(got) != 0 {
		t.Fatalf("committed offsets of the deleted topic: %v, %v", got, err)
	}
	testenv.CheckFor(t, 10*testGrace, 50*time.Millisecond, func() error {
		if _, err := e.collector.Pass(e.ctx); err != nil {
			return err
		}
		tps, err := e.b.store.Partitions(e.ctx)
		if err != nil {
			return err
		}
		if slices.Contains(tps, tp) {
			return errors.New("the deleted topic's partition state is still stored")
		}
		return nil
	})
	e.collectUntilClean(t)
	if len(e.objects(t)) == 0 {
		t.Fatal("the kept topic's objects were collected")
	}
	var chunks int
	if err := e.b.store.Chunks(e.ctx, func(c index.StoredChunk) error {
		if c.TP == tp {
			chunks++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if chunks != 0 {
		t.Fatalf("%d chunks of the deleted topic left", chunks)
	}
	recs := e.consumeFrom(t, "kept", 0, 100)
	if len(recs) != 100 {
		t.Fatalf("kept topic: %d records", len(recs))
	}
}

func TestCompactedTopicRefusesKeylessRecords(t *testing.T) {
	e := newLifecycleEnv(t)
	tp := e.createTopic(t, "table", map[string]string{"cleanup.policy": "compact"})
	cl := e.ts.client(t, kgo.DefaultProduceTopic("table"), kgo.RecordRetries(0))
	err := cl.ProduceSync(e.ctx, &kgo.Record{Key: []byte("k"), Value: []byte("1")}, &kgo.Record{Value: []byte("no key")}).FirstErr()
	if !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("keyless record to a compacted topic: %v, want INVALID_RECORD", err)
	}
	if o, err := e.ts.log.Offsets(e.ctx, tp); err != nil || o.HighWatermark != 0 {
		t.Fatalf("high watermark %d (%v) after a refused batch, want 0", o.HighWatermark, err)
	}
	if err := cl.ProduceSync(e.ctx, &kgo.Record{Key: []byte("k"), Value: []byte("1")}).FirstErr(); err != nil {
		t.Fatalf("keyed record: %v", err)
	}
}

func TestLifecycleConfigsValidated(t *testing.T) {
	e := newLifecycleEnv(t)
	for _, c := range []struct{ name, value string }{
		{"min.compaction.lag.ms", "-1"},
		{"max.compaction.lag.ms", "0"},
		{"min.cleanable.dirty.ratio", "1.5"},
		{"min.cleanable.dirty.ratio", "-0.1"},
		{"cleanup.policy", "archive"},
		{"cleanup.policy", "compact,shred"},
		{"retention.ms", "-2"},
		{"retention.bytes", "x"},
		{"delete.retention.ms", "-5"},
	} {
		v := c.value
		_, err := e.adm.CreateTopic(e.ctx, 1, 1, map[string]*string{c.name: &v}, "bad")
		if !errors.Is(err, kerr.InvalidConfig) {
			t.Errorf("%s=%s: %v, want INVALID_CONFIG", c.name, c.value, err)
		}
	}
}
