package gateway

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered"
	"github.com/stratalog/strata/tiered/index"
)

func gatewaysN(ids ...int32) []coordinator.Gateway {
	out := make([]coordinator.Gateway, len(ids))
	for i, id := range ids {
		out[i] = coordinator.Gateway{NodeID: id, Addr: fmt.Sprintf("127.0.0.1:%d", 9000+id)}
	}
	return out
}

// TestAssignLeadersBalancedAndSticky: every partition gets a leader, no
// gateway leads more than its fair share of a topic, and a gateway joining or
// leaving moves little more than its share.
func TestAssignLeadersBalancedAndSticky(t *testing.T) {
	const topics, partitions = 200, 12
	three, four := gatewaysN(1, 2, 3), gatewaysN(1, 2, 3, 4)
	moves := func(from, to []coordinator.Gateway) (moved int) {
		for i := range topics {
			id := [16]byte{byte(i), byte(i >> 8), 7}
			a, b := assignLeaders(id, partitions, from), assignLeaders(id, partitions, to)
			load := map[int32]int{}
			for p := range partitions {
				if b[p] < 0 {
					t.Fatalf("topic %d partition %d has no leader", i, p)
				}
				load[b[p]]++
				if a[p] != b[p] {
					moved++
				}
			}
			share := (partitions + len(to) - 1) / len(to)
			for node, n := range load {
				if n > share {
					t.Fatalf("topic %d: node %d leads %d partitions, share %d", i, node, n, share)
				}
			}
		}
		return moved
	}
	// 3 → 4 gateways: ideally a quarter of the partitions move to the new
	// one; 4 → 3: the leaving gateway's quarter moves.
	ideal := topics * partitions / 4
	joined, left := moves(three, four), moves(four, three)
	t.Logf("moves: %d on a join, %d on a leave, ideal %d", joined, left, ideal)
	if got := joined; got > ideal*3/2 {
		t.Errorf("a fourth gateway joining moved %d partitions, ideal %d", got, ideal)
	}
	if got := left; got > ideal*3/2 {
		t.Errorf("a gateway leaving moved %d partitions, ideal %d", got, ideal)
	}
	if got := moves(three, three); got != 0 {
		t.Errorf("the same live set moved %d partitions", got)
	}
	if l := assignLeaders([16]byte{1}, 3, nil); l[0] != -1 {
		t.Errorf("no live gateway: leader %d", l[0])
	}
}

// TestGroupCoordinatorsSpread: group coordinators are spread over the
// gateways, and the same group maps to the same gateway in every view.
func TestGroupCoordinatorsSpread(t *testing.T) {
	v := newClusterView(coordinator.Gateway{NodeID: 1}, nil, nil)
	v.live = gatewaysN(1, 2, 3)
	count := map[int32]int{}
	for i := range 3000 {
		count[v.coordinatorFor(fmt.Sprint("group-", i))]++
	}
	for node, n := range count {
		if n < 800 || n > 1200 {
			t.Errorf("node %d coordinates %d of 3000 groups", node, n)
		}
	}
	w := newClusterView(coordinator.Gateway{NodeID: 2}, nil, nil)
	w.live = gatewaysN(1, 2, 3)
	if a, b := v.coordinatorFor("g"), w.coordinatorFor("g"); a != b {
		t.Errorf("two gateways disagree on group g: %d and %d", a, b)
	}
}

// countingLogs counts the record bytes replica reads return.
type countingLogs struct {
	Logs
	replicaBytes atomic.Int64
}

func (c *countingLogs) ReadReplica(ctx context.Context, tp index.TopicPartition, offset int64, maxBytes int) (tiered.ReadResult, error) {
	res, err := c.Logs.ReadReplica(ctx, tp, offset, maxBytes)
	c.replicaBytes.Add(int64(len(res.Records)))
	return res, err
}

// TestFollowerFetching: two gateways in racks a and b. A consumer in rack b
// is pointed by each leader in rack a to the rack b gateway
// (PreferredReadReplica), which serves the partitions it does not lead from
// the committed state; the consumer reads every record once.
func TestFollowerFetching(t *testing.T) {
	b := newBackend(t, 2*time.Second)
	var replica *countingLogs
	a := b.gateway(t, serverOpts{}, 1, "a", true)
	bGw := b.gateway(t, serverOpts{wrapLogs: func(l Logs) Logs { replica = &countingLogs{Logs: l}; return replica }}, 2, "b", true)
	createTestTopic(t, a, "ff", 4, nil)
	seeds := kgo.SeedBrokers(a.addr, bGw.addr)
	testenv.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		md, err := kadm.NewClient(a.client(t, seeds)).BrokerMetadata(context.Background())
		if err != nil {
			return err
		}
		if len(md.Brokers) != 2 {
			return fmt.Errorf("%d brokers", len(md.Brokers))
		}
		return nil
	})
	producer := a.client(t, seeds, kgo.DefaultProduceTopic("ff"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var recs []*kgo.Record
	for i := range 400 {
		recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%04d", i)})
	}
	if err := producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	offsets := map[int32]kgo.Offset{}
	for p := range int32(4) {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	consumer := a.client(t, seeds, kgo.Rack("b"), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"ff": offsets}))
	seen := map[string]int{}
	for len(seen) < 400 && ctx.Err() == nil {
		fs := consumer.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ })
	}
	if len(seen) != 400 {
		t.Fatalf("read %d of 400 records", len(seen))
	}
	for v, n := range seen {
		if n != 1 {
			t.Fatalf("%s read %d times", v, n)
		}
	}
	if replica.replicaBytes.Load() == 0 {
		t.Fatal("the rack b gateway served no replica reads")
	}
}
