package coordinator

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/testenv"
)

// TestGatewayLeases: live gateways are listed; a lease not renewed expires
// and the next renewal reports it lost; a node id held by a live gateway at
// another address is refused; a restart at the same address takes the lease
// over at once; deregistering removes the gateway at once.
func TestGatewayLeases(t *testing.T) {
	const lease = time.Second
	js := testenv.NATS(t).JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, js, Config{GatewayLease: lease})
	if err != nil {
		t.Fatal(err)
	}
	if s.GatewayLeaseDuration() != lease {
		t.Fatalf("lease %v", s.GatewayLeaseDuration())
	}
	l1, err := s.RegisterGateway(ctx, Gateway{NodeID: 1, Addr: "a:1", Incarnation: "x"})
	if err != nil {
		t.Fatal(err)
	}
	l2, err := s.RegisterGateway(ctx, Gateway{NodeID: 2, Addr: "b:1", Incarnation: "y"})
	if err != nil {
		t.Fatal(err)
	}
	gws, err := s.Gateways(ctx)
	if err != nil || len(gws) != 2 || gws[0].Addr != "a:1" || gws[1].Addr != "b:1" {
		t.Fatalf("gateways: %+v, %v", gws, err)
	}

	// Keep node 1 alive; let node 2's lease run out.
	renewCtx, stopRenewing := context.WithCancel(ctx)
	renewed := make(chan error, 1)
	go func() {
		for renewCtx.Err() == nil {
			if err := s.RenewGateway(renewCtx, l1); err != nil && renewCtx.Err() == nil {
				renewed <- err
				return
			}
			time.Sleep(lease / 4)
		}
		renewed <- nil
	}()
	testenv.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		gws, err := s.Gateways(ctx)
		if err != nil {
			return err
		}
		if len(gws) != 1 || gws[0].NodeID != 1 {
			return fmt.Errorf("gateways %+v, want node 1 alone", gws)
		}
		return nil
	})
	if err := s.RenewGateway(ctx, l2); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("renewing an expired lease: %v, want ErrLeaseLost", err)
	}
	if _, err := s.RegisterGateway(ctx, Gateway{NodeID: 1, Addr: "c:1", Incarnation: "z"}); !errors.Is(err, ErrNodeIDInUse) {
		t.Fatalf("registering a live node id elsewhere: %v, want ErrNodeIDInUse", err)
	}
	stopRenewing()
	if err := <-renewed; err != nil {
		t.Fatalf("renewing a live lease: %v", err)
	}

	// A restart at the same address takes over; deregistering is immediate.
	l1b, err := s.RegisterGateway(ctx, Gateway{NodeID: 1, Addr: "a:1", Incarnation: "x2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RenewGateway(ctx, l1); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("the earlier run renewing: %v, want ErrLeaseLost", err)
	}
	if err := s.DeregisterGateway(ctx, l1b); err != nil {
		t.Fatal(err)
	}
	if gws, err := s.Gateways(ctx); err != nil || len(gws) != 0 {
		t.Fatalf("after deregistering: %+v, %v", gws, err)
	}
}
