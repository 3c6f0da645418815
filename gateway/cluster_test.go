package gateway

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered"
	"github.com/stratalog/strata/tiered/index"
)

// countingLogs counts the record bytes replica reads return.
type countingLogs struct {
	Logs
	replicaBytes atomic.Int64
}

func (c *countingLogs) ReadReplica(ctx context.Context, tp index.TopicPartition, offset int64, maxBytes int, iso tiered.Isolation) (tiered.ReadResult, error) {
	res, err := c.Logs.ReadReplica(ctx, tp, offset, maxBytes, iso)
	c.replicaBytes.Add(int64(len(res.Records)))
	return res, err
}

// TestFollowerFetching: two gateways in racks a and b. A consumer in rack b
// is pointed by each leader in rack a to the rack b gateway
// (PreferredReadReplica), which serves the partitions it does not lead from
// the committed state; the consumer reads every record once.
func TestFollowerFetching(t *testing.T) {
	// The default lease: nothing here fails over, and a 2 s lease can lapse
	// on a loaded machine, taking gateway b out of a's view (and with it
	// the preferred read replica) for a while.
	b := newBackend(t, 0)
	var replica *countingLogs
	a := b.gateway(t, serverOpts{}, 1, "a", true)
	bGw := b.gateway(t, serverOpts{wrapLogs: func(l Logs) Logs { replica = &countingLogs{Logs: l}; return replica }}, 2, "b", true)
	createTestTopic(t, a, "ff", 4, nil)
	seeds := kgo.SeedBrokers(a.addr, bGw.addr)
	// The leader's own view must hold b: it picks the read replica.
	testenv.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		md, err := kadm.NewClient(a.client(t)).BrokerMetadata(context.Background())
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
