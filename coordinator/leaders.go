package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stratalog/strata/tiered/index"
)

// Leader epochs for Metadata. The partition head holds the epoch that fences
// writers; this bucket ("<prefix>_leaders", key "<topic id hex>.<partition>")
// publishes the latest claim of every partition (its epoch, and the node id
// and incarnation that made it) so that every gateway can tell clients
// (KIP-320) without reading heads, and can tell whether the claim is the
// current leader's or a previous one's. A claim publishes itself by
// compare-and-swap, and only upwards; Run watches the bucket into an
// in-memory table.
//
// Memory: the table holds one small entry per claimed partition (its key,
// two int32s and an incarnation string shared by every claim of one run);
// partitions never written have none.

type leaderRecord struct {
	Epoch  int32 `json:"epoch"`
	NodeID int32 `json:"node_id"`
	// Incarnation is the claiming run's (Gateway.Incarnation); empty in
	// records written before it was added, which therefore match no run.
	Incarnation string `json:"incarnation,omitempty"`
}

// LeaderClaim is the latest published claim of a partition.
type LeaderClaim struct {
	// Epoch is the leader epoch the claim took.
	Epoch int32
	// NodeID and Incarnation name the gateway run that made it; Incarnation
	// is empty for claims published by versions that did not record it.
	NodeID      int32
	Incarnation string
}

// leaderTable is the in-memory copy of the leaders bucket; mu is a leaf lock.
type leaderTable struct {
	mu     sync.Mutex
	claims map[index.TopicPartition]LeaderClaim
	// incarnations interns incarnation strings, so that the claims of one
	// run share one string.
	incarnations map[string]string
}

// raise records c for tp unless a later epoch is known.
func (lt *leaderTable) raise(tp index.TopicPartition, c LeaderClaim) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if lt.claims == nil {
		lt.claims = map[index.TopicPartition]LeaderClaim{}
		lt.incarnations = map[string]string{}
	}
	if cur, ok := lt.claims[tp]; ok && c.Epoch <= cur.Epoch {
		return
	}
	if in, ok := lt.incarnations[c.Incarnation]; ok {
		c.Incarnation = in
	} else {
		lt.incarnations[c.Incarnation] = c.Incarnation
	}
	lt.claims[tp] = c
}

// claim returns tp's latest known claim.
func (lt *leaderTable) claim(tp index.TopicPartition) (LeaderClaim, bool) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	c, ok := lt.claims[tp]
	return c, ok
}

// LeaderEpoch returns the latest published leader epoch of tp, -1 when none
// is known (the partition was never claimed, or Run has not caught up).
func (s *Store) LeaderEpoch(tp index.TopicPartition) int32 {
	if c, ok := s.leaderEpochs.claim(tp); ok {
		return c.Epoch
	}
	return -1
}

// LeaderClaim returns the latest published claim of tp, false when none is
// known (the partition was never claimed, or Run has not caught up). A claim
// this Store published is known at once.
func (s *Store) LeaderClaim(tp index.TopicPartition) (LeaderClaim, bool) {
	return s.leaderEpochs.claim(tp)
}

// PublishLeaderEpoch records that the run incarnation of node claimed tp at
// epoch, unless a later epoch is already published.
func (s *Store) PublishLeaderEpoch(ctx context.Context, tp index.TopicPartition, node int32, incarnation string, epoch int32) error {
	key := partitionKey(tp)
	data, err := json.Marshal(leaderRecord{Epoch: epoch, NodeID: node, Incarnation: incarnation})
	if err != nil {
		return err
	}
	// A partition this Store knows no claim of is most likely claimed for
	// the first time: try to create its record before reading it, one
	// round trip instead of two.
	_, known := s.leaderEpochs.claim(tp)
	err = retryCAS(ctx, func() error {
		if !known {
			known = true
			_, err := s.leaderWrites.write(ctx, key, data, 0)
			if !isCASMismatch(err) {
				return err
			}
		}
		e, err := s.leaders.Get(ctx, key)
		switch {
		case isNotFound(err):
			_, err = s.leaderWrites.write(ctx, key, data, 0)
		case err != nil:
			return err
		default:
			var cur leaderRecord
			if json.Unmarshal(e.Value(), &cur) == nil && cur.Epoch >= epoch {
				return nil
			}
			_, err = s.leaderWrites.write(ctx, key, data, e.Revision())
		}
		if isCASMismatch(err) {
			return errCASLost
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("publish leader epoch %d of %s: %w", epoch, key, err)
	}
	s.leaderEpochs.raise(tp, LeaderClaim{Epoch: epoch, NodeID: node, Incarnation: incarnation})
	return nil
}

// applyLeaderEntry applies one watched leaders record.
func (s *Store) applyLeaderEntry(e jetstream.KeyValueEntry) {
	if e.Operation() != jetstream.KeyValuePut {
		return
	}
	tp, ok := parsePartitionKey(e.Key())
	var r leaderRecord
	if !ok || json.Unmarshal(e.Value(), &r) != nil {
		s.log.Error("skip leader record", "key", e.Key())
		return
	}
	s.leaderEpochs.raise(tp, LeaderClaim{Epoch: r.Epoch, NodeID: r.NodeID, Incarnation: r.Incarnation})
}
