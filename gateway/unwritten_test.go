package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/tiered/index"
)

// TestFetchUnwrittenPartitions: a fetch of every partition of a new topic
// makes the gateway claim none of them (no head is written, none is
// loaded); a long poll waiting on them all wakes when a record is produced to
// one of them, and returns it, though its 30 s wait would hold it past the
// test's deadline; the other partitions stay unclaimed.
//
// The fetches are built by hand, not by a kgo consumer: franz-go may start a
// consumer's first fetch before every partition's start offset is set, and
// that long poll, without the partition produced to, would then hold it for
// its whole wait.
func TestFetchUnwrittenPartitions(t *testing.T) {
	const topic, partitions, written = "unwritten", 64, int32(7)
	s := startServer(t, serverOpts{noAutoCreate: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := s.client(t)
	created, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic)
	if err != nil || created.Err != nil {
		t.Fatalf("create topic: %v %v", err, created.Err)
	}
	tpOf := func(p int32) index.TopicPartition {
		return index.TopicPartition{TopicID: created.ID, Partition: p}
	}
	claimed := func() []int32 {
		t.Helper()
		var out []int32
		for p := range int32(partitions) {
			rev, err := s.store.PartitionRevision(ctx, tpOf(p))
			if err != nil {
				t.Fatal(err)
			}
			if rev != 0 || s.log.Loaded(tpOf(p)) {
				out = append(out, p)
			}
		}
		return out
	}
	fetchAll := func(ctx context.Context, wait time.Duration) (*kmsg.FetchResponse, error) {
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes = int32(wait.Milliseconds()), 1, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, created.ID
		for p := range int32(partitions) {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.CurrentLeaderEpoch, rp.PartitionMaxBytes = p, -1, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		return req.RequestWith(ctx, cl)
	}

	resp, err := fetchAll(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, rp := range resp.Topics[0].Partitions {
		if rp.ErrorCode != 0 || rp.HighWatermark != 0 || len(rp.RecordBatches) != 0 {
			t.Fatalf("partition %d of a topic never written: error %d, high watermark %d, %d record bytes", rp.Partition, rp.ErrorCode, rp.HighWatermark, len(rp.RecordBatches))
		}
	}
	if c := claimed(); len(c) != 0 {
		t.Fatalf("fetching claimed partitions %v of a topic never written", c)
	}

	type result struct {
		resp *kmsg.FetchResponse
		err  error
	}
	polled := make(chan result, 1)
	go func() {
		resp, err := fetchAll(ctx, 30*time.Second)
		polled <- result{resp, err}
	}()
	for deadline := time.Now().Add(10 * time.Second); gaugeValue(t, s.srv.metrics.fetchPurgatory) != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the fetch did not start its long poll in 10 s")
		}
	}

	producer := s.client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := producer.ProduceSync(ctx, &kgo.Record{Partition: written, Value: []byte("first")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	var r result
	select {
	case r = <-polled:
	case <-time.After(10 * time.Second):
		t.Fatal("the record produced did not wake the fetch waiting on its partition in 10 s")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	var recs []*kgo.Record
	for _, rp := range r.resp.Topics[0].Partitions {
		if rp.ErrorCode != 0 {
			t.Fatalf("partition %d: error %d", rp.Partition, rp.ErrorCode)
		}
		fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: topic, Partition: rp.Partition}, &rp, kgo.DefaultDecompressor(), nil)
		if fp.Err != nil {
			t.Fatalf("partition %d: %v", rp.Partition, fp.Err)
		}
		recs = append(recs, fp.Records...)
	}
	if len(recs) != 1 {
		t.Fatalf("the woken fetch returned %d records, want 1", len(recs))
	}
	if rec := recs[0]; rec.Partition != written || rec.Offset != 0 || string(rec.Value) != "first" {
		t.Fatalf("the woken fetch returned partition %d offset %d %q; want partition %d offset 0 \"first\"", rec.Partition, rec.Offset, rec.Value, written)
	}
	if c := claimed(); len(c) != 1 || c[0] != written {
		t.Fatalf("claimed partitions %v, want only %d", c, written)
	}
}

// gaugeValue reads g's value.
func gaugeValue(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}
