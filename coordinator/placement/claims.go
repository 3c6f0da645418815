package placement

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

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

	mu sync.Mutex
	// running is the membership read in flight; next is the one to start
	// after it, which calls arriving meanwhile join (gateways).
	running, next *membershipRead
	// leaders is Leaders per topic for the membership named membership, so
	// that claiming each of a topic's P partitions costs O(P) in all
	// rather than O(P) each.
	membership string
	leaders    map[[16]byte][]int32
}

// membershipRead is one read of the stored membership, shared by the
// calls that arrived before it started.
type membershipRead struct {
	started bool
	calls   int           // calls sharing it
	done    chan struct{} // closed once gws and err are set
	gws     []coordinator.Gateway
	err     error
}

// maxCachedTopics bounds Claims.leaders; past it the cache starts over.
const maxCachedTopics = 1024

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
	gws, err := c.gateways(ctx)
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
	if c.leadersOf(t, gws)[tp.Partition] != c.NodeID {
		return ErrNotLeader
	}
	return nil
}

// gateways reads the stored membership with a read that starts after the
// call: a claim must not act on a membership older than itself. Calls that
// arrive while a read is in flight share the one read that starts after
// it, so a gateway claiming many partitions at once reads the membership
// about twice, not once per partition.
func (c *Claims) gateways(ctx context.Context) ([]coordinator.Gateway, error) {
	c.mu.Lock()
	r := c.join()
	for {
		if !r.started && c.running == nil {
			// r starts now, after every call that joined it arrived.
			r.started, c.next, c.running = true, nil, r
			c.mu.Unlock()
			r.gws, r.err = c.Members.Gateways(ctx)
			c.mu.Lock()
			c.running = nil
			close(r.done)
			c.mu.Unlock()
			return r.gws, r.err
		}
		wait := r.done
		if !r.started {
			wait = c.running.done // then r may start
		}
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		c.mu.Lock()
		select {
		case <-r.done:
			if ctx.Err() == nil && (errors.Is(r.err, context.Canceled) || errors.Is(r.err, context.DeadlineExceeded)) {
				// The call that ran r gave up; this one has not.
				r = c.join()
				continue
			}
			c.mu.Unlock()
			return r.gws, r.err
		default:
		}
	}
}

// join returns the read that starts next, for a call arriving now. The
// caller holds mu.
func (c *Claims) join() *membershipRead {
	if c.next == nil {
		c.next = &membershipRead{done: make(chan struct{})}
	}
	c.next.calls++
	return c.next
}

// leadersOf is Leaders(t.ID, t.Partitions, gws), cached for the last
// membership it was asked about. The slice is shared: callers must not
// change it.
func (c *Claims) leadersOf(t coordinator.Topic, gws []coordinator.Gateway) []int32 {
	var key strings.Builder
	for _, g := range gws { // Gateways sorts by node id
		key.WriteString(strconv.Itoa(int(g.NodeID)))
		key.WriteByte(':')
		key.WriteString(strconv.Quote(g.Rack))
		key.WriteByte(',')
	}
	membership := key.String()
	c.mu.Lock()
	leaders, ok := c.leaders[t.ID]
	if c.membership != membership || len(c.leaders) >= maxCachedTopics {
		c.membership, c.leaders, ok = membership, nil, false
	}
	c.mu.Unlock()
	if ok && int32(len(leaders)) == t.Partitions {
		return leaders
	}
	leaders = Leaders(t.ID, t.Partitions, gws)
	c.mu.Lock()
	if c.membership == membership {
		if c.leaders == nil {
			c.leaders = make(map[[16]byte][]int32)
		}
		c.leaders[t.ID] = leaders
	}
	c.mu.Unlock()
	return leaders
}

// NewIncarnation returns a random incarnation for one run of a gateway
// (coordinator.Gateway.Incarnation). Create it once per run and give the
// same value to the gateway and to its Claims.
func NewIncarnation() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	return hex.EncodeToString(b[:])
}
