package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Gateway membership. Each live gateway holds a lease: the record under its
// node id in the gateways bucket, whose keys expire after the bucket's TTL
// (JetStream's MaxAge, timed by the NATS servers, so gateways' clocks do not
// matter) unless the gateway renews it by compare-and-swap. A gateway that
// cannot renew (paused, partitioned, slow) loses its lease and with it, once
// the others see it gone, everything it led.

// DefaultGatewayLease is how long a gateway's lease lasts without renewal
// when Config.GatewayLease is zero. Gateways renew every third of it.
const DefaultGatewayLease = 10 * time.Second

// Gateway is a live gateway as the cluster sees it.
type Gateway struct {
	NodeID int32  `json:"node_id"`
	Addr   string `json:"addr"` // advertised host:port of the inter-broker listener
	// Listeners are the advertised host:port of each of the gateway's
	// listeners, by listener name; records from before named listeners
	// have none, and clients of any listener are then given Addr.
	Listeners map[string]string `json:"listeners,omitempty"`
	Rack      string            `json:"rack,omitempty"`
	// Incarnation tells two runs of one node id apart.
	Incarnation string `json:"incarnation"`
	// ChainTakeover is set by every gateway that can take over a partition
	// whose write-ahead tail is on another gateway's writer chain, with
	// chains on or off; a record without it is an older version's, which
	// would miss that tail.
	ChainTakeover bool `json:"chain_takeover,omitempty"`
	// ChainFenceSubjects is set by every gateway that fences a writer chain
	// on its fence subject (package wal); a gateway with ChainTakeover
	// alone fences the chain itself, which such a chain's writer does not
	// check.
	ChainFenceSubjects bool `json:"chain_fence_subjects,omitempty"`
}

// Lease is a gateway's hold on its membership record.
type Lease struct {
	gw       Gateway
	revision uint64
}

// Gateway is the gateway the lease is for.
func (l *Lease) Gateway() Gateway { return l.gw }

func gatewayKey(nodeID int32) string { return strconv.FormatInt(int64(nodeID), 10) }

// GatewayLeaseDuration is the lease length of the gateways bucket.
func (s *Store) GatewayLeaseDuration() time.Duration { return s.gatewayLease }

// RegisterGateway takes the lease of g.NodeID. A record left by an earlier
// run at the same address is taken over; one of another live gateway is
// waited out for up to one lease, then refused with ErrNodeIDInUse.
func (s *Store) RegisterGateway(ctx context.Context, g Gateway) (*Lease, error) {
	data, err := json.Marshal(g)
	if err != nil {
		return nil, err
	}
	key := gatewayKey(g.NodeID)
	deadline := time.Now().Add(s.gatewayLease + time.Second)
	for {
		rev, err := s.gateways.Create(ctx, key, data)
		if err == nil {
			return &Lease{gw: g, revision: rev}, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("register gateway %d: %w", g.NodeID, err)
		}
		e, err := s.gateways.Get(ctx, key)
		switch {
		case isNotFound(err):
			continue // expired in between
		case err != nil:
			return nil, fmt.Errorf("register gateway %d: %w", g.NodeID, err)
		}
		var cur Gateway
		if json.Unmarshal(e.Value(), &cur) == nil && cur.Addr == g.Addr {
			// An earlier run of this gateway: take its lease over.
			rev, err := s.gateways.Update(ctx, key, data, e.Revision())
			if err == nil {
				return &Lease{gw: g, revision: rev}, nil
			}
			if !isCASMismatch(err) {
				return nil, fmt.Errorf("register gateway %d: %w", g.NodeID, err)
			}
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("register gateway %d at %s: held by %s: %w", g.NodeID, g.Addr, cur.Addr, ErrNodeIDInUse)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// RenewGateway extends the lease. It fails with ErrLeaseLost when the
// record expired or changed hands: the gateway is no longer a member.
func (s *Store) RenewGateway(ctx context.Context, l *Lease) error {
	data, err := json.Marshal(l.gw)
	if err != nil {
		return err
	}
	rev, err := s.gateways.Update(ctx, gatewayKey(l.gw.NodeID), data, l.revision)
	switch {
	case isCASMismatch(err) || isNotFound(err):
		return fmt.Errorf("renew gateway %d: %w", l.gw.NodeID, ErrLeaseLost)
	case err != nil:
		return fmt.Errorf("renew gateway %d: %w", l.gw.NodeID, err)
	}
	l.revision = rev
	return nil
}

// DeregisterGateway gives the lease up at once, so others take over without
// waiting for it to expire.
func (s *Store) DeregisterGateway(ctx context.Context, l *Lease) error {
	err := s.gateways.Delete(ctx, gatewayKey(l.gw.NodeID), jetstream.LastRevision(l.revision))
	if err != nil && !isCASMismatch(err) && !isNotFound(err) {
		return fmt.Errorf("deregister gateway %d: %w", l.gw.NodeID, err)
	}
	return nil
}

// Gateways returns the gateways holding a lease, by node id.
func (s *Store) Gateways(ctx context.Context) ([]Gateway, error) {
	keys, err := s.listKeys(ctx, s.gateways, ">")
	if err != nil {
		return nil, err
	}
	out := make([]Gateway, 0, len(keys))
	for _, k := range keys {
		e, err := s.gateways.Get(ctx, k)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read gateway %s: %w", k, err)
		}
		var g Gateway
		if err := json.Unmarshal(e.Value(), &g); err != nil {
			return nil, corruptf("gateway record %s: %v", k, err)
		}
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b Gateway) int { return int(a.NodeID) - int(b.NodeID) })
	return out, nil
}

// Equal reports whether g and o are the same record.
func (g Gateway) Equal(o Gateway) bool {
	return g.NodeID == o.NodeID && g.Addr == o.Addr && g.Rack == o.Rack && g.Incarnation == o.Incarnation && maps.Equal(g.Listeners, o.Listeners)
}
