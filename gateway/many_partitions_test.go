package gateway

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/tiered/index"
)

// TestIssue19ManyPartitions: a 10,000-partition topic created through kadm
// is listed by Metadata with a leader for every partition; records produced
// to 200 of its partitions are consumed back with their content and offsets;
// Metadata tells leader epochs for those partitions only (it claims none);
// ListOffsets and a group's OffsetCommit and OffsetFetch cover all 10,000
// partitions (one offsets record could not hold them). It asserts outcomes
// only; how fast each step is, is for the issue's measurements.
func TestIssue19ManyPartitions(t *testing.T) {
	const (
		topic      = "many"
		partitions = 10_000
		written    = 200 // partitions produced to, spread over the topic
		perPart    = 3   // records produced to each
	)
	s := startServer(t, serverOpts{noAutoCreate: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm := kadm.NewClient(s.client(t))
	created, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err != nil || created.Err != nil {
		t.Fatalf("create topic: %v %v", err, created.Err)
	}

	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	mt := md.Topics[topic]
	if mt.Err != nil || len(mt.Partitions) != partitions {
		t.Fatalf("metadata: %v, %d partitions, want %d", mt.Err, len(mt.Partitions), partitions)
	}
	for p := range int32(partitions) {
		mp, ok := mt.Partitions[p]
		if !ok || mp.Err != nil || mp.Leader != 0 || len(mp.Replicas) != 1 || mp.Replicas[0] != 0 {
			t.Fatalf("metadata of partition %d: %+v (listed %v)", p, mp, ok)
		}
	}

	// Partition i*spread gets records "p<partition>-<n>", n = 0..perPart-1.
	spread := int32(partitions / written)
	cl := s.client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for n := range perPart {
		for i := range int32(written) {
			p := i * spread
			recs = append(recs, &kgo.Record{Partition: p, Key: fmt.Appendf(nil, "k%d", p), Value: fmt.Appendf(nil, "p%d-%d", p, n)})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	offsets := map[int32]kgo.Offset{}
	for i := range int32(written) {
		offsets[i*spread] = kgo.NewOffset().AtStart()
	}
	consumer := s.client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	next := map[int32]int64{}
	for got := 0; got < written*perPart; {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records", got, written*perPart)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch partition %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			got++
			want := fmt.Sprintf("p%d-%d", r.Partition, next[r.Partition])
			if r.Partition%spread != 0 || r.Offset != next[r.Partition] || string(r.Value) != want || string(r.Key) != fmt.Sprintf("k%d", r.Partition) {
				t.Fatalf("partition %d offset %d: %s=%s, want offset %d value %s", r.Partition, r.Offset, r.Key, r.Value, next[r.Partition], want)
			}
			next[r.Partition]++
		})
	}
	if len(next) != written {
		t.Fatalf("records from %d partitions, want %d", len(next), written)
	}

	// Metadata tells the epochs of the partitions written (claimed), and
	// none for the others, which it does not claim.
	// kadm's Metadata may answer from the client's cache: ask the gateway.
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, s.client(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, mp := range resp.Topics[0].Partitions {
		if wrote := mp.Partition%spread == 0; wrote && mp.LeaderEpoch < 0 || !wrote && mp.LeaderEpoch != -1 {
			t.Fatalf("metadata of partition %d (written: %v): leader epoch %d", mp.Partition, wrote, mp.LeaderEpoch)
		}
	}

	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ends[topic]); n != partitions {
		t.Fatalf("end offsets of %d partitions, want %d", n, partitions)
	}
	ends.Each(func(o kadm.ListedOffset) {
		want := int64(0)
		if o.Partition%spread == 0 {
			want = perPart
		}
		if o.Err != nil || o.Offset != want {
			t.Fatalf("end offset of partition %d: %d (%v), want %d", o.Partition, o.Offset, o.Err, want)
		}
	})

	commit := kadm.Offsets{}
	for p := range int32(partitions) {
		commit.Add(kadm.Offset{Topic: topic, Partition: p, At: int64(p % 7), LeaderEpoch: -1, Metadata: "m"})
	}
	committed, err := adm.CommitOffsets(ctx, "many-group", commit)
	if err != nil || committed.Error() != nil {
		t.Fatalf("commit offsets: %v %v", err, committed.Error())
	}
	fetched, err := adm.FetchOffsets(ctx, "many-group")
	if err != nil || fetched.Error() != nil {
		t.Fatalf("fetch offsets: %v %v", err, fetched.Error())
	}
	if n := len(fetched[topic]); n != partitions {
		t.Fatalf("fetched offsets of %d partitions, want %d", n, partitions)
	}
	for p, o := range fetched[topic] {
		if o.At != int64(p%7) || o.Metadata != "m" {
			t.Fatalf("fetched offset of partition %d: %+v, want %d", p, o, p%7)
		}
	}

	// A consumer of the whole topic fetches all 10,000 partitions and
	// reads every record once. The 9,800 never written are answered as
	// empty without being claimed (unwritten.go); its own deadline in
	// case they are not, since claiming them all took about 25 s alone
	// with -race and several times that on a loaded CI machine.
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer wcancel()
	whole := s.client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	read := map[string]int{}
	for n := 0; n < written*perPart; {
		fs := whole.PollFetches(wctx)
		if wctx.Err() != nil {
			t.Fatalf("whole-topic consumer read %d of %d records", n, written*perPart)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch partition %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			read[string(r.Value)]++
			n++
		})
	}
	for v, c := range read {
		if c != 1 {
			t.Fatalf("whole-topic consumer read %q %d times", v, c)
		}
	}
	if len(read) != written*perPart {
		t.Fatalf("whole-topic consumer read %d distinct records, want %d", len(read), written*perPart)
	}
	loaded := 0
	for p := range int32(partitions) {
		if s.log.Loaded(index.TopicPartition{TopicID: created.ID, Partition: p}) {
			loaded++
		}
	}
	if loaded != written {
		t.Fatalf("%d partitions loaded after the whole-topic read, want the %d written", loaded, written)
	}
}
