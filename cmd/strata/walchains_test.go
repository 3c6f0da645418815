package main

import (
	"slices"
	"testing"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/internal/testenv"
)

// TestOlderGatewaysHoldChainsBack: a live gateway whose record does not say
// it takes over writer chains fenced on their fence subjects (an older
// version's) is named, so that this gateway appends to partition subjects;
// one that does, and this gateway's own record, are not.
func TestOlderGatewaysHoldChainsBack(t *testing.T) {
	store, err := coordinator.Open(t.Context(), testenv.NATS(t).JetStream(t), coordinator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	register := func(g coordinator.Gateway) {
		t.Helper()
		if _, err := store.RegisterGateway(t.Context(), g); err != nil {
			t.Fatal(err)
		}
	}
	register(coordinator.Gateway{NodeID: 1, Addr: "127.0.0.1:9001", Incarnation: "a"})
	register(coordinator.Gateway{NodeID: 2, Addr: "127.0.0.1:9002", Incarnation: "b", ChainTakeover: true, ChainFenceSubjects: true})
	if older, err := olderGateways(t.Context(), store, 1); err != nil || len(older) != 0 {
		t.Fatalf("older gateways %v (%v), want none: node 1 is this gateway", older, err)
	}
	register(coordinator.Gateway{NodeID: 3, Addr: "127.0.0.1:9003", Incarnation: "c"})
	if older, err := olderGateways(t.Context(), store, 1); err != nil || !slices.Equal(older, []int32{3}) {
		t.Fatalf("older gateways %v (%v), want [3]", older, err)
	}
	// The release before fence subjects: takes chains over, fencing them
	// where this version's writers do not look.
	register(coordinator.Gateway{NodeID: 4, Addr: "127.0.0.1:9004", Incarnation: "d", ChainTakeover: true})
	if older, err := olderGateways(t.Context(), store, 1); err != nil || !slices.Equal(older, []int32{3, 4}) {
		t.Fatalf("older gateways %v (%v), want [3 4]", older, err)
	}
}
