package placement

import (
	"errors"
	"testing"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/index"
)

// TestClaims: against a real coordinator store, a gateway may claim exactly
// the partitions it leads by the stored membership; an earlier run of its
// node id (another incarnation) may claim none; an unknown topic or
// partition is refused as unknown; a gateway on its own may claim anything.
func TestClaims(t *testing.T) {
	ctx := t.Context()
	store, err := coordinator.Open(ctx, testenv.NATS(t).JetStream(t), coordinator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	topic, err := store.CreateTopic(ctx, coordinator.Topic{Name: "claims", Partitions: 12})
	if err != nil {
		t.Fatal(err)
	}
	live := []coordinator.Gateway{
		{NodeID: 1, Addr: "127.0.0.1:9001", Rack: "a", Incarnation: NewIncarnation()},
		{NodeID: 2, Addr: "127.0.0.1:9002", Rack: "b", Incarnation: NewIncarnation()},
		{NodeID: 3, Addr: "127.0.0.1:9003", Rack: "b", Incarnation: NewIncarnation()},
	}
	for _, g := range live {
		if _, err := store.RegisterGateway(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	leaders := Leaders(topic.ID, topic.Partitions, live)
	for _, g := range live {
		c := &Claims{Members: store, Topics: store, NodeID: g.NodeID, Incarnation: g.Incarnation}
		stale := &Claims{Members: store, Topics: store, NodeID: g.NodeID, Incarnation: "an earlier run"}
		for p := range topic.Partitions {
			tp := index.TopicPartition{TopicID: topic.ID, Partition: p}
			err := c.MayClaim(ctx, tp)
			switch {
			case leaders[p] == g.NodeID && err != nil:
				t.Errorf("node %d may not claim partition %d it leads: %v", g.NodeID, p, err)
			case leaders[p] != g.NodeID && !errors.Is(err, ErrNotLeader):
				t.Errorf("node %d claiming partition %d led by %d: %v, want ErrNotLeader", g.NodeID, p, leaders[p], err)
			}
			if err := stale.MayClaim(ctx, tp); !errors.Is(err, ErrNotLeader) {
				t.Errorf("node %d's earlier run claiming partition %d: %v, want ErrNotLeader", g.NodeID, p, err)
			}
		}
	}
	c := &Claims{Members: store, Topics: store, NodeID: 1, Incarnation: live[0].Incarnation}
	for _, tp := range []index.TopicPartition{{TopicID: [16]byte{0xff}}, {TopicID: topic.ID, Partition: 12}, {TopicID: topic.ID, Partition: -1}} {
		if err := c.MayClaim(ctx, tp); !errors.Is(err, coordinator.ErrUnknownTopic) {
			t.Errorf("claim %v: %v, want ErrUnknownTopic", tp, err)
		}
	}
	alone := &Claims{NodeID: 7}
	if err := alone.MayClaim(ctx, index.TopicPartition{TopicID: topic.ID}); err != nil {
		t.Errorf("a gateway on its own may not claim: %v", err)
	}
}
