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
// publishes the latest claimed epoch of every partition so that every
// gateway can tell clients (KIP-320) without reading heads. A claim publishes
// its epoch by compare-and-swap, and only upwards; Run watches the bucket
// into an in-memory table.

type leaderRecord struct {
	Epoch  int32 `json:"epoch"`
	NodeID int32 `json:"node_id"`
}

// leaderTable is the in-memory copy of the leaders bucket; mu is a leaf lock.
type leaderTable struct {
	mu     sync.Mutex
	epochs map[index.TopicPartition]int32
}

// raise records epoch for tp unless a later one is known.
func (lt *leaderTable) raise(tp index.TopicPartition, epoch int32) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if lt.epochs == nil {
		lt.epochs = map[index.TopicPartition]int32{}
	}
	if cur, ok := lt.epochs[tp]; !ok || epoch > cur {
		lt.epochs[tp] = epoch
	}
}

// LeaderEpoch returns the latest published leader epoch of tp, -1 when none
// is known (the partition was never claimed, or Run has not caught up).
func (s *Store) LeaderEpoch(tp index.TopicPartition) int32 {
	s.leaderEpochs.mu.Lock()
	defer s.leaderEpochs.mu.Unlock()
	if e, ok := s.leaderEpochs.epochs[tp]; ok {
		return e
	}
	return -1
}

// PublishLeaderEpoch records that node claimed tp at epoch, unless a later
// epoch is already published.
func (s *Store) PublishLeaderEpoch(ctx context.Context, tp index.TopicPartition, node, epoch int32) error {
	key := partitionKey(tp)
	data, err := json.Marshal(leaderRecord{Epoch: epoch, NodeID: node})
	if err != nil {
		return err
	}
	err = retryCAS(ctx, func() error {
		e, err := s.leaders.Get(ctx, key)
		switch {
		case isNotFound(err):
			_, err = s.leaders.Create(ctx, key, data)
		case err != nil:
			return err
		default:
			var cur leaderRecord
			if json.Unmarshal(e.Value(), &cur) == nil && cur.Epoch >= epoch {
				return nil
			}
			_, err = s.leaders.Update(ctx, key, data, e.Revision())
		}
		if isCASMismatch(err) {
			return errCASLost
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("publish leader epoch %d of %s: %w", epoch, key, err)
	}
	s.leaderEpochs.raise(tp, epoch)
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
	s.leaderEpochs.raise(tp, r.Epoch)
}
