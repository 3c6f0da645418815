package gateway

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/tiered/index"
)

// TestUnpublishedClaim: when this gateway claims a partition again and the
// claim's publication fails (the store unreachable for the moment), Metadata
// still tells the epoch the partition is held at, and a fetch fenced for
// carrying the older, published epoch publishes the claim; a consumer reads
// on. Before, Metadata told the published epoch and every fetch was fenced
// for good (a NATS node loss test consumed 2 of 6 partitions in 3 minutes).
func TestUnpublishedClaim(t *testing.T) {
	var unpublished atomic.Bool
	s := startServer(t, serverOpts{unpublished: &unpublished})
	createTestTopic(t, s, "unpublished", 1, nil)
	produceN(t, s, "unpublished", 0, 10) // claimed at epoch 1, published
	tp := index.TopicPartition{TopicID: s.topicID(t, "unpublished")}
	unpublished.Store(true)
	s.log.ReleaseUnless(func(index.TopicPartition) bool { return false })
	produceN(t, s, "unpublished", 10, 5) // claimed again at epoch 2, unpublished
	unpublished.Store(false)
	if e := s.store.LeaderEpoch(tp); e != 1 {
		t.Fatalf("published epoch %d, want 1: the second claim was to go unpublished", e)
	}

	cl := s.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if e := metadataLeaderEpoch(ctx, t, cl, "unpublished"); e != 2 {
		t.Fatalf("metadata leader epoch %d, want 2", e)
	}
	if code := fetchAtEpoch(ctx, t, cl, "unpublished", tp.TopicID, 1); code != kerr.FencedLeaderEpoch.Code {
		t.Fatalf("fetch at the published epoch 1: %v, want FENCED_LEADER_EPOCH", kerr.ErrorForCode(code))
	}
	if e := s.store.LeaderEpoch(tp); e != 2 {
		t.Fatalf("published epoch after the fenced fetch: %d, want 2", e)
	}
	consumer := s.client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"unpublished": {0: kgo.NewOffset().AtStart()}}))
	for next := int64(0); next < 15; {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of 15 records", next)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != next || string(r.Value) != fmt.Sprintf("v%06d", next) {
				t.Fatalf("offset %d %q, want offset %d", r.Offset, r.Value, next)
			}
			next++
		})
	}
}

// TestLeaderEpochs: Metadata reports each claim's epoch; Fetch and ListOffsets
// fence an older CurrentLeaderEpoch and refuse a newer one; and
// OffsetForLeaderEpoch answers from the epoch history as Kafka does.
func TestLeaderEpochs(t *testing.T) {
	s := startServer(t, serverOpts{})
	createTestTopic(t, s, "epochs", 1, nil)
	produceN(t, s, "epochs", 0, 10) // claims at epoch 1, offsets 0-9
	// A second claim (as after a failover): epoch 2 starts at offset 10.
	s.log.ReleaseUnless(func(index.TopicPartition) bool { return false })
	produceN(t, s, "epochs", 10, 5)

	cl := s.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if e := metadataLeaderEpoch(ctx, t, cl, "epochs"); e != 2 {
		t.Fatalf("metadata leader epoch %d, want 2", e)
	}

	id := s.topicID(t, "epochs")
	fetch := func(epoch int32) int16 { return fetchAtEpoch(ctx, t, cl, "epochs", id, epoch) }
	for _, tc := range []struct {
		epoch int32
		want  int16
	}{{2, 0}, {-1, 0}, {1, kerr.FencedLeaderEpoch.Code}, {3, kerr.UnknownLeaderEpoch.Code}} {
		if got := fetch(tc.epoch); got != tc.want {
			t.Errorf("fetch at current leader epoch %d: %v, want %v", tc.epoch, kerr.ErrorForCode(got), kerr.ErrorForCode(tc.want))
		}
	}

	ofle := kmsg.NewPtrOffsetForLeaderEpochRequest()
	ot := kmsg.NewOffsetForLeaderEpochRequestTopic()
	ot.Topic = "epochs"
	for _, e := range []int32{0, 1, 2, 5} {
		op := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		op.LeaderEpoch = e
		ot.Partitions = append(ot.Partitions, op)
	}
	ofle.Topics = append(ofle.Topics, ot)
	oresp, err := ofle.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		epoch int32
		end   int64
	}{{0, 0}, {1, 10}, {2, 15}, {-1, -1}}
	for i, p := range oresp.Topics[0].Partitions {
		if p.ErrorCode != 0 || p.LeaderEpoch != want[i].epoch || p.EndOffset != want[i].end {
			t.Errorf("OffsetForLeaderEpoch(%d) = epoch %d end %d (%v), want %d %d", ot.Partitions[i].LeaderEpoch, p.LeaderEpoch, p.EndOffset, kerr.ErrorForCode(p.ErrorCode), want[i].epoch, want[i].end)
		}
	}
}

// metadataLeaderEpoch asks the gateway itself (kadm may answer from the
// client's cache) for the leader epoch of topic's partition 0.
func metadataLeaderEpoch(ctx context.Context, t *testing.T, cl *kgo.Client, topic string) int32 {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0].LeaderEpoch
}

// fetchAtEpoch fetches topic's partition 0 (by id from v13) with the given
// CurrentLeaderEpoch and returns the partition's error code.
func fetchAtEpoch(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, id [16]byte, epoch int32) int16 {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MaxBytes = 1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.CurrentLeaderEpoch, rp.PartitionMaxBytes = epoch, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}
