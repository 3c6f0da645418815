package gateway

// Gateways form a cluster through the coordinator: each holds a lease on its
// node id (coordinator.RegisterGateway), renewed every third of its length,
// and reads the live set every refresh. This file keeps that view; who leads
// a partition and who coordinates a group or transaction is cluster policy,
// derived from the live set by coordinator/placement (rack-aware partition
// leaders, rendezvous-ranked coordinators), so that every gateway with the
// same view gets the same answers. Views may differ for a moment while
// membership changes; nothing then depends on them agreeing, because writes
// are fenced in the coordinator store: a partition's new leader claims it
// with the next leader epoch (after placement.Claims confirms, against the
// stored membership, that it leads), and a group's new coordinator writes its
// state by compare-and-swap, so the old one's next write fails and it lets
// go.
//
// A gateway that cannot renew its lease leads nothing and coordinates
// nothing until it holds a new one.

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/coordinator/placement"
	"github.com/stratalog/strata/tiered/index"
)

// Members is the gateway membership kept by the coordinator;
// coordinator.Store implements it.
type Members interface {
	RegisterGateway(ctx context.Context, g coordinator.Gateway) (*coordinator.Lease, error)
	RenewGateway(ctx context.Context, l *coordinator.Lease) error
	DeregisterGateway(ctx context.Context, l *coordinator.Lease) error
	Gateways(ctx context.Context) ([]coordinator.Gateway, error)
	GatewayLeaseDuration() time.Duration
}

// clusterView is this gateway's view of the live gateways.
type clusterView struct {
	self    coordinator.Gateway
	members Members // nil: a gateway on its own, which leads everything

	mu    sync.RWMutex
	live  []coordinator.Gateway // by node id; empty while this gateway holds no lease
	lease *coordinator.Lease
	// leaders caches each topic's partition leaders for the current live
	// set; reset whenever it changes.
	leaders map[[16]byte][]int32
	// onChange is called, without mu, after the live set changed.
	onChange func()
}

// newClusterView returns the view of self, which carries this run's
// incarnation.
func newClusterView(self coordinator.Gateway, members Members, onChange func()) *clusterView {
	v := &clusterView{self: self, members: members, leaders: map[[16]byte][]int32{}, onChange: onChange}
	if members == nil {
		v.live = []coordinator.Gateway{self}
	}
	return v
}

// join registers this gateway; it returns once it holds a lease, or with the
// registration error.
func (v *clusterView) join(ctx context.Context) error {
	if v.members == nil {
		return nil
	}
	l, err := v.members.RegisterGateway(ctx, v.self)
	if err != nil {
		return err
	}
	v.mu.Lock()
	v.lease = l
	v.mu.Unlock()
	return v.refresh(ctx)
}

// run renews the lease and refreshes the live set until ctx ends, then gives
// the lease up.
func (v *clusterView) run(ctx context.Context, log func(msg string, args ...any)) {
	if v.members == nil {
		return
	}
	lease := v.members.GatewayLeaseDuration()
	renewEvery := lease / 3
	refreshEvery := min(max(lease/10, 100*time.Millisecond), time.Second)
	renew := time.NewTicker(renewEvery)
	defer renew.Stop()
	refresh := time.NewTicker(refreshEvery)
	defer refresh.Stop()
	for {
		select {
		case <-ctx.Done():
			v.leave(log)
			return
		case <-renew.C:
			rctx, cancel := context.WithTimeout(ctx, lease/3)
			v.renew(rctx, log)
			cancel()
		case <-refresh.C:
			// Bounded: a listing of the gateways bucket that never
			// finished held this loop, and the view with it, for good.
			rctx, cancel := context.WithTimeout(ctx, max(refreshEvery, 5*time.Second))
			err := v.refresh(rctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				log("refresh cluster membership", "err", err)
			}
		}
	}
}

func (v *clusterView) renew(ctx context.Context, log func(msg string, args ...any)) {
	v.mu.RLock()
	l := v.lease
	v.mu.RUnlock()
	if l != nil {
		err := v.members.RenewGateway(ctx, l)
		if err == nil || ctx.Err() != nil {
			return
		}
		log("gateway lease not renewed", "err", err)
		if !errors.Is(err, coordinator.ErrLeaseLost) {
			return // the store is unreachable: the lease may still hold
		}
		// Lost: lead nothing until a new lease is held.
		v.setLive(nil, nil)
	}
	nl, err := v.members.RegisterGateway(ctx, v.self)
	if err != nil {
		if ctx.Err() == nil {
			log("gateway lease not regained", "err", err)
		}
		return
	}
	v.mu.Lock()
	v.lease = nl
	v.mu.Unlock()
	_ = v.refresh(ctx)
}

func (v *clusterView) leave(log func(msg string, args ...any)) {
	v.mu.RLock()
	l := v.lease
	v.mu.RUnlock()
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := v.members.DeregisterGateway(ctx, l); err != nil {
		log("gateway lease not given up; it expires on its own", "err", err)
	}
	v.setLive(nil, nil)
}

// refresh reads the live set. Without a lease this gateway sees itself out.
func (v *clusterView) refresh(ctx context.Context) error {
	gws, err := v.members.Gateways(ctx)
	if err != nil {
		return err
	}
	v.mu.RLock()
	l := v.lease
	v.mu.RUnlock()
	if l == nil || !slices.ContainsFunc(gws, func(g coordinator.Gateway) bool {
		return g.NodeID == v.self.NodeID && g.Incarnation == v.self.Incarnation
	}) {
		gws = nil // not (or no longer) a member
	}
	v.setLive(gws, l)
	return nil
}

func (v *clusterView) setLive(gws []coordinator.Gateway, l *coordinator.Lease) {
	v.mu.Lock()
	changed := !slices.EqualFunc(gws, v.live, coordinator.Gateway.Equal)
	if changed {
		v.live = gws
		v.leaders = map[[16]byte][]int32{}
	}
	if l == nil {
		v.lease = nil
	}
	v.mu.Unlock()
	if changed && v.onChange != nil {
		v.onChange()
	}
}

// gateways returns the live gateways, by node id.
func (v *clusterView) gateways() []coordinator.Gateway {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.live
}

// gateway returns the live gateway with node id, if any.
func (v *clusterView) gateway(nodeID int32) (coordinator.Gateway, bool) {
	for _, g := range v.gateways() {
		if g.NodeID == nodeID {
			return g, true
		}
	}
	return coordinator.Gateway{}, false
}

// leader returns the node id leading tp, -1 when no gateway is live.
func (v *clusterView) leader(t coordinator.Topic, partition int32) int32 {
	leaders := v.leadersOf(t)
	if partition < 0 || int(partition) >= len(leaders) {
		return -1
	}
	return leaders[partition]
}

// leadersOf returns the node id leading each partition of t (-1 when no
// gateway is live). The slice is shared: callers must not change it.
func (v *clusterView) leadersOf(t coordinator.Topic) []int32 {
	v.mu.RLock()
	leaders, ok := v.leaders[t.ID]
	live := v.live
	v.mu.RUnlock()
	if !ok || int32(len(leaders)) != t.Partitions {
		leaders = placement.Leaders(t.ID, t.Partitions, live)
		v.mu.Lock()
		if slices.EqualFunc(live, v.live, coordinator.Gateway.Equal) {
			v.leaders[t.ID] = leaders
		}
		v.mu.Unlock()
	}
	return leaders
}

// leads reports whether this gateway leads tp.
func (v *clusterView) leads(t coordinator.Topic, tp index.TopicPartition) bool {
	return v.leader(t, tp.Partition) == v.self.NodeID
}

// coordinatorFor returns the node id coordinating a group (or transaction)
// key, -1 when no gateway is live.
func (v *clusterView) coordinatorFor(key string) int32 {
	return placement.Coordinator(key, v.gateways())
}

// broker is a gateway as Metadata lists it.
type broker struct {
	NodeID int32
	Rack   string
	host   string
	port   int32
}

// brokers lists the live gateways, and this one even while it holds no
// lease (its partitions then have no leader), by node id, with their
// addresses on listener l (as Kafka, which gives each client the addresses of
// the listener it connected to).
func (s *Server) brokers(l *listener) []broker {
	out := []broker{{NodeID: s.cfg.NodeID, Rack: s.cfg.Rack, host: l.host, port: l.port}}
	for _, g := range s.view.gateways() {
		if g.NodeID == s.cfg.NodeID {
			continue
		}
		addr, ok := g.Listeners[l.Name]
		if !ok {
			addr = g.Addr
		}
		host, port, err := splitHostPort(addr)
		if err != nil {
			continue // RegisterGateway checked the address; a bad record is skipped
		}
		out = append(out, broker{NodeID: g.NodeID, Rack: g.Rack, host: host, port: port})
	}
	slices.SortFunc(out, func(a, b broker) int { return int(a.NodeID) - int(b.NodeID) })
	return out
}

// membershipChanged lets go of the partitions this gateway no longer leads and
// the groups it no longer coordinates.
func (s *Server) membershipChanged() {
	s.cfg.Logs.ReleaseUnless(func(tp index.TopicPartition) bool {
		t, ok := s.cfg.Topics.TopicByID(tp.TopicID)
		return ok && s.view.leads(t, tp)
	})
	s.groups.ReleaseUnless(s.coordinates)
	s.unwritten.forgetUnless(func(tp index.TopicPartition) bool {
		t, ok := s.cfg.Topics.TopicByID(tp.TopicID)
		return ok && s.view.leads(t, tp)
	})
	s.verified.forgetUnless(func(tp index.TopicPartition) bool {
		t, ok := s.cfg.Topics.TopicByID(tp.TopicID)
		return ok && s.view.leads(t, tp)
	})
	if s.txns != nil {
		s.txns.membershipChanged()
	}
}

// coordinates reports whether this gateway coordinates a group.
func (s *Server) coordinates(group string) bool {
	return s.view.coordinatorFor(group) == s.cfg.NodeID
}

// member reports whether this gateway holds its lease (or runs alone).
func (v *clusterView) member() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.members == nil || v.lease != nil
}
