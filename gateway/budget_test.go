package gateway

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFetchResponseBudget: with MaxFetchResponseBytes of 64 KiB, a fetch
// asking for 50 MiB gets at most the budget plus one batch (KIP-74), a
// consumer asking for 50 MiB still reads every record once, and once the
// clients are gone, nothing is held: neither fetch response bytes nor
// request bytes, also after a connection closed in the middle of a long
// poll.
func TestFetchResponseBudget(t *testing.T) {
	const budget = 64 << 10
	s := startServer(t, serverOpts{configure: func(c *Config) { c.MaxFetchResponseBytes = budget }})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic, partitions, records, valueBytes = "budget", 16, 512, 16 << 10 // 8 MiB
	admin := kadm.NewClient(s.client(t))
	if _, err := admin.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	producer := s.client(t, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchMaxBytes(256<<10), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	recs := make([]*kgo.Record, records)
	for i := range recs {
		recs[i] = &kgo.Record{Partition: int32(i % partitions), Value: append(fmt.Appendf(nil, "%06d", i), bytes.Repeat([]byte{'v'}, valueBytes-6)...)}
	}
	if err := producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// One raw fetch of everything: the budget, not MaxBytes, bounds it.
	topicID := s.topicID(t, topic)
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.MaxWaitMillis, req.MaxBytes = 13, 100, 50<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.TopicID = topicID
	for p := range int32(partitions) {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = p, 50<<20, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	kresp, err := req.RequestWith(ctx, s.client(t))
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, sp := range kresp.Topics[0].Partitions {
		if err := kerr.ErrorForCode(sp.ErrorCode); err != nil {
			t.Fatalf("partition %d: %v", sp.Partition, err)
		}
		got += len(sp.RecordBatches)
	}
	if got == 0 || got > budget+256<<10+4<<10 {
		t.Fatalf("a 50 MiB fetch under a %d-byte budget returned %d bytes", budget, got)
	}

	// A consumer asking for 50 MiB per fetch reads everything, in order
	// per partition.
	consumer := s.client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(50<<20), kgo.FetchMaxPartitionBytes(50<<20))
	next := make([]int64, partitions) // per partition
	for n := 0; n < records; {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records", n, records)
		}
		fs.EachError(func(t2 string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", t2, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			i := int(next[r.Partition])*partitions + int(r.Partition)
			if want := fmt.Sprintf("%06d", i); string(r.Value[:6]) != want || r.Offset != next[r.Partition] {
				t.Fatalf("partition %d offset %d holds %q, want offset %d %q", r.Partition, r.Offset, r.Value[:6], next[r.Partition], want)
			}
			next[r.Partition]++
			n++
		})
	}
	consumer.Close()

	// A long poll past the end, its connection closed while it waits.
	poller := s.client(t)
	preq := kmsg.NewPtrFetchRequest()
	*preq = *req
	preq.MinBytes, preq.MaxWaitMillis = 1, 2_000
	preq.Topics = []kmsg.FetchRequestTopic{rt}
	preq.Topics[0].Partitions = []kmsg.FetchRequestTopicPartition{rt.Partitions[0]}
	preq.Topics[0].Partitions[0].FetchOffset = records / partitions
	pctx, pcancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = preq.RequestWith(pctx, poller)
	}()
	time.Sleep(200 * time.Millisecond) // the poll is waiting on the server
	pcancel()
	poller.Close()
	<-done

	deadline := time.Now().Add(10 * time.Second)
	for s.srv.FetchResponseBytesHeld() != 0 || s.srv.RequestBytesHeld() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("with no client left, %d fetch response bytes and %d request bytes are held",
				s.srv.FetchResponseBytesHeld(), s.srv.RequestBytesHeld())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
