package placement

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/tiered/index"
)

// ErrNotLeader is Claims.MayClaim's refusal: by the membership stored right
// now, another gateway (or another run of this node id) leads the partition.
// Retriable once membership settles; the client is pointed elsewhere.
var ErrNotLeader = errors.New("placement: another gateway leads the partition by the current membership")

// Members is the gateway membership Claims reads; coordinator.Store
// implements it.
type Members interface {
	// Gateways returns the live gateways, read from the store (not a
	// cache).
	Gateways(ctx context.Context) ([]coordinator.Gateway, error)
}

// Topics is the topics table Claims reads; coordinator.Store implements it.
type Topics interface {
	TopicByID(id [16]byte) (coordinator.Topic, bool)
}

// Claims checks, before a partition's log is claimed with the next leader
// epoch, that this gateway leads the partition by the membership stored right
// now rather than by its own view, which may lag: a gateway acting on a stale
// view would otherwise fence the real leader. The log's claim is what
// fences; this check only keeps a stale gateway from starting one.
type Claims struct {
	// Members is the live membership; nil means a gateway on its own, which
	// may claim everything.
	Members Members
	// Topics gives a partition's topic. Required when Members is set.
	Topics Topics
	// NodeID and Incarnation are this gateway's, as it registered them
	// (coordinator.Gateway): a lease left by an earlier run of the same
	// node id does not count.
	NodeID      int32
	Incarnation string
}

// MayClaim is tiered.Config.MayClaim: nil if this gateway (same node id and
// incarnation) is live and leads tp by the stored membership; ErrNotLeader
// if not; coordinator.ErrUnknownTopic for a topic not in the table or a
// partition it does not have; the
// store's error if the membership cannot be read.
func (c *Claims) MayClaim(ctx context.Context, tp index.TopicPartition) error {
	if c.Members == nil {
		return nil
	}
	t, ok := c.Topics.TopicByID(tp.TopicID)
	if !ok {
		return coordinator.ErrUnknownTopic
	}
	gws, err := c.Members.Gateways(ctx)
	if err != nil {
		return fmt.Errorf("read membership: %w", err)
	}
	if !slices.ContainsFunc(gws, func(g coordinator.Gateway) bool {
		return g.NodeID == c.NodeID && g.Incarnation == c.Incarnation
	}) {
		return ErrNotLeader
	}
	if tp.Partition < 0 || tp.Partition >= t.Partitions {
		return fmt.Errorf("partition %d of %d: %w", tp.Partition, t.Partitions, coordinator.ErrUnknownTopic)
	}
	if Leaders(t.ID, t.Partitions, gws)[tp.Partition] != c.NodeID {
		return ErrNotLeader
	}
	return nil
}

// NewIncarnation returns a random incarnation for one run of a gateway
// (coordinator.Gateway.Incarnation). Create it once per run and give the
// same value to the gateway and to its Claims.
func NewIncarnation() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	return hex.EncodeToString(b[:])
}
