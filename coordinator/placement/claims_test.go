package placement

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// heldMembers is a real store's membership whose reads each wait for a
// value on release once they have read the store, so that a test can hold
// one in flight.
type heldMembers struct {
	Members
	started chan struct{}
	release chan struct{}
	reads   atomic.Int32
}

func (m *heldMembers) Gateways(ctx context.Context) ([]coordinator.Gateway, error) {
	m.reads.Add(1)
	gws, err := m.Members.Gateways(ctx)
	m.started <- struct{}{}
	<-m.release
	return gws, err
}

// TestClaimsShareFreshReads: calls that arrive while a membership read is
// in flight do not take its answer, which may predate them: they share one
// read that starts after it, and see a gateway that joined meanwhile.
func TestClaimsShareFreshReads(t *testing.T) {
	ctx := t.Context()
	store, err := coordinator.Open(ctx, testenv.NATS(t).JetStream(t), coordinator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	topic, err := store.CreateTopic(ctx, coordinator.Topic{Name: "fresh", Partitions: 12})
	if err != nil {
		t.Fatal(err)
	}
	self := coordinator.Gateway{NodeID: 1, Addr: "127.0.0.1:9001", Incarnation: NewIncarnation()}
	if _, err := store.RegisterGateway(ctx, self); err != nil {
		t.Fatal(err)
	}
	members := &heldMembers{Members: store, started: make(chan struct{}, 64), release: make(chan struct{}, 64)}
	c := &Claims{Members: members, Topics: store, NodeID: self.NodeID, Incarnation: self.Incarnation}

	first := make(chan error, 1)
	go func() { first <- c.MayClaim(ctx, index.TopicPartition{TopicID: topic.ID, Partition: 0}) }()
	<-members.started // the first read is in flight, before gateway 2 joins
	other := coordinator.Gateway{NodeID: 2, Addr: "127.0.0.1:9002", Incarnation: NewIncarnation()}
	if _, err := store.RegisterGateway(ctx, other); err != nil {
		t.Fatal(err)
	}
	late := make([]error, topic.Partitions)
	var wg sync.WaitGroup
	for p := range topic.Partitions {
		wg.Go(func() { late[p] = c.MayClaim(ctx, index.TopicPartition{TopicID: topic.ID, Partition: p}) })
	}
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.next != nil && c.next.calls == int(topic.Partitions)
	})
	members.release <- struct{}{} // the first read, then the one they share
	members.release <- struct{}{}
	if err := <-first; err != nil {
		t.Errorf("the first call, alone by its read: %v", err)
	}
	wg.Wait()
	if n := members.reads.Load(); n != 2 {
		t.Errorf("%d membership reads for %d calls, want 2", n, topic.Partitions+1)
	}
	leaders := Leaders(topic.ID, topic.Partitions, []coordinator.Gateway{self, other})
	for p, err := range late {
		switch {
		case leaders[p] == self.NodeID && err != nil:
			t.Errorf("partition %d, led by this gateway: %v", p, err)
		case leaders[p] != self.NodeID && !errors.Is(err, ErrNotLeader):
			t.Errorf("partition %d, led by gateway %d since it joined: %v, want ErrNotLeader", p, leaders[p], err)
		}
	}
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not met in 10s")
}
