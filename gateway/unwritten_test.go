package gateway

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/tiered/index"
)

// TestFetchUnwrittenPartitions: a consumer of every partition of a new topic
// makes the gateway claim none of them (no head is written, none is
// loaded); a record produced to one of them reaches the consumer through
// its long poll, which a 30 s fetch wait would otherwise hold past the
// test's deadline; the other partitions stay unclaimed.
func TestFetchUnwrittenPartitions(t *testing.T) {
	const topic, partitions, written = "unwritten", 64, int32(7)
	s := startServer(t, serverOpts{noAutoCreate: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	created, err := kadm.NewClient(s.client(t)).CreateTopic(ctx, partitions, 1, nil, topic)
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

	offsets := map[int32]kgo.Offset{}
	for p := range int32(partitions) {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	consumer := s.client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}), kgo.FetchMaxWait(30*time.Second))
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	fs := consumer.PollFetches(pctx)
	pcancel()
	fs.EachError(func(_ string, p int32, err error) {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("fetch partition %d: %v", p, err)
		}
	})
	if n := fs.NumRecords(); n != 0 {
		t.Fatalf("%d records from a topic never written", n)
	}
	if c := claimed(); len(c) != 0 {
		t.Fatalf("fetching claimed partitions %v of a topic never written", c)
	}

	producer := s.client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := producer.ProduceSync(ctx, &kgo.Record{Partition: written, Value: []byte("first")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	for {
		fs := consumer.PollFetches(wctx)
		if wctx.Err() != nil {
			t.Fatal("the record produced did not reach the consumer waiting on its partition in 10 s")
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch partition %d: %v", p, err) })
		var recs []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
		if len(recs) == 0 {
			continue
		}
		if r := recs[0]; len(recs) != 1 || r.Partition != written || r.Offset != 0 || string(r.Value) != "first" {
			t.Fatalf("consumed %d records, first partition %d offset %d %q; want partition %d offset 0 \"first\"", len(recs), r.Partition, r.Offset, r.Value, written)
		}
		break
	}
	if c := claimed(); len(c) != 1 || c[0] != written {
		t.Fatalf("claimed partitions %v, want only %d", c, written)
	}
}
