package group

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/internal/testenv"
)

// newStore opens a coordinator store on a fresh embedded NATS server.
func newStore(t *testing.T) *coordinator.Store {
	t.Helper()
	s, err := coordinator.Open(t.Context(), testenv.NATS(t).JetStream(t), coordinator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestClassicGroupOutlivesCoordinator: a Stable classic group is stored, so a
// new Coordinator on the same store (a restarted gateway) serves its member's
// heartbeats and commits at the same generation, without a rebalance; when
// the last member leaves the records go.
func TestClassicGroupOutlivesCoordinator(t *testing.T) {
	store := newStore(t)
	ctx := context.Background()
	first := New(Config{Store: store})
	res := joinOne(t, first, "g")

	second := New(Config{Store: store})
	if err := second.Heartbeat(ctx, "g", res.MemberID, "", res.Generation); err != nil {
		t.Fatalf("heartbeat after the takeover: %v", err)
	}
	if err := checkCommit(second, "g", res.MemberID, res.Generation); err != nil {
		t.Fatalf("commit after the takeover: %v", err)
	}
	d, ok, err := second.Describe(ctx, "g")
	if err != nil || !ok || d.State != Stable || len(d.Members) != 1 || string(d.Members[0].Assignment) != "a" || d.Protocol != "range" {
		t.Fatalf("restored group: %+v ok=%v err=%v", d, ok, err)
	}
	if errs := second.Leave(ctx, "g", []LeavingMember{{MemberID: res.MemberID}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if st, err := store.LoadGroup(ctx, "g"); err != nil || st.Revision != 0 || len(st.Members) != 0 {
		t.Fatalf("records after the last member left: %+v, %v", st, err)
	}
}

// TestConsumerGroupOutlivesCoordinator: a KIP-848 group's members carry on
// with their epochs and assignments under a new Coordinator on the same
// store, and the old Coordinator, having lost the group, can no longer
// change it (its write fails the compare-and-swap).
func TestConsumerGroupOutlivesCoordinator(t *testing.T) {
	store := newStore(t)
	ts := &topicSet{}
	topic := ts.add("t", 4)
	first := New(Config{Store: store, Topics: ts.list})
	a, b := newClient(t, first, "a", "t"), newClient(t, first, "b", "t")
	for range 3 {
		a.mustHeartbeat()
		b.mustHeartbeat()
	}
	assertDisjoint(t, a, b)
	ownedA, epochA := slices.Clone(owns(a, topic)), a.epoch

	second := New(Config{Store: store, Topics: ts.list})
	a.c, b.c = second, second
	res := a.mustHeartbeat()
	if res.MemberEpoch < epochA || !slices.Equal(owns(a, topic), ownedA) {
		t.Fatalf("after the takeover a owns %v at epoch %d; before %v at %d", owns(a, topic), res.MemberEpoch, ownedA, epochA)
	}
	for range 3 {
		a.mustHeartbeat()
		b.mustHeartbeat()
		assertDisjoint(t, a, b)
	}
	if len(owns(a, topic))+len(owns(b, topic)) != 4 {
		t.Fatalf("after the takeover: a %v b %v", owns(a, topic), owns(b, topic))
	}

	// The first coordinator still has the group in memory; its next change
	// is refused and it drops the group.
	c := newClient(t, first, "c", "t")
	if res := c.heartbeat(); !errors.Is(res.Err, ErrNotPersisted) {
		t.Fatalf("join through the coordinator that lost the group: %v, want ErrNotPersisted", res.Err)
	}
}
