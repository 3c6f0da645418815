package group

import (
	"context"
	"time"
)

// SyncRequest is a SyncGroup; Assignments is set by the leader only.
type SyncRequest struct {
	Group, MemberID, InstanceID string
	Generation                  int32
	// ProtocolType and Protocol, when set (v5+), must match the group's.
	ProtocolType, Protocol *string
	Assignments            map[string][]byte
}

// SyncResult answers a SyncGroup.
type SyncResult struct {
	Err                    error
	ProtocolType, Protocol string
	Assignment             []byte
}

// Sync returns the member's assignment, waiting for the leader's SyncGroup when
// it has not arrived yet.
func (c *Coordinator) Sync(ctx context.Context, req SyncRequest) SyncResult {
	g, err := c.get(ctx, req.Group, false)
	if err != nil {
		return SyncResult{Err: err}
	}
	if g == nil {
		return SyncResult{Err: ErrUnknownMember}
	}
	ch, res := g.sync(ctx, req)
	if ch == nil {
		return res
	}
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		return SyncResult{Err: ErrRebalanceInProgress}
	}
}

func (g *Group) sync(ctx context.Context, req SyncRequest) (<-chan SyncResult, SyncResult) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m, err := g.checkMember(req.MemberID, req.InstanceID, req.Generation)
	if err != nil {
		return nil, SyncResult{Err: err}
	}
	if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocol) {
		return nil, SyncResult{Err: ErrInconsistentProtocol}
	}
	g.touch(m)
	switch g.state {
	case PreparingRebalance:
		return nil, SyncResult{Err: ErrRebalanceInProgress}
	case Stable:
		return nil, g.syncResult(m)
	}
	// CompletingRebalance.
	if m.id == g.leader {
		for _, o := range g.members {
			o.assignment = req.Assignments[o.id]
		}
		g.state = Stable
		g.markAllDirty()
		if err := g.persist(ctx); err != nil {
			return nil, SyncResult{Err: err} // the others were answered by abandon
		}
		for _, o := range g.members {
			if o.syncCh != nil {
				o.syncCh <- g.syncResult(o)
				o.syncCh = nil
			}
		}
		return nil, g.syncResult(m)
	}
	ch := make(chan SyncResult, 1)
	if m.syncCh != nil {
		m.syncCh <- SyncResult{Err: ErrRebalanceInProgress} // superseded
	}
	m.syncCh = ch
	return ch, SyncResult{}
}

func (g *Group) syncResult(m *member) SyncResult {
	return SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: m.assignment}
}

// checkMember finds the member of a request, applying Kafka's fencing: unknown
// ids, fenced static instances, and stale generations.
func (g *Group) checkMember(id, instanceID string, generation int32) (*member, error) {
	if g.state == Dead {
		return nil, ErrUnknownMember
	}
	if instanceID != "" {
		if cur, ok := g.static[instanceID]; ok && cur != id {
			return nil, ErrFencedInstance
		}
	}
	m, ok := g.members[id]
	if !ok {
		return nil, ErrUnknownMember
	}
	if generation != g.generation {
		return nil, ErrIllegalGeneration
	}
	return m, nil
}

// Heartbeat keeps a member's session alive and tells it when to rejoin.
func (c *Coordinator) Heartbeat(ctx context.Context, group, memberID, instanceID string, generation int32) error {
	g, err := c.get(ctx, group, false)
	if err != nil {
		return err
	}
	if g == nil {
		return ErrUnknownMember
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	m, err := g.checkMember(memberID, instanceID, generation)
	if err != nil {
		return err
	}
	if g.state == PreparingRebalance {
		return ErrRebalanceInProgress
	}
	g.touch(m)
	return nil
}

// LeavingMember names a member leaving: by id, or by instance id (v3+).
type LeavingMember struct{ MemberID, InstanceID string }

// Leave removes members and returns an error per member, in order.
func (c *Coordinator) Leave(ctx context.Context, group string, members []LeavingMember) []error {
	errs := make([]error, len(members))
	g, err := c.get(ctx, group, false)
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	if g == nil {
		for i := range errs {
			errs[i] = ErrUnknownMember
		}
		return errs
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	changed := false
	for i, lm := range members {
		id := lm.MemberID
		if lm.InstanceID != "" {
			cur, ok := g.static[lm.InstanceID]
			switch {
			case !ok:
				errs[i] = ErrUnknownMember
				continue
			case id != "" && cur != id:
				errs[i] = ErrFencedInstance
				continue
			}
			id = cur
		}
		m, ok := g.members[id]
		if !ok {
			errs[i] = ErrUnknownMember
			continue
		}
		g.remove(m, ErrUnknownMember)
		changed = true
	}
	if changed {
		g.membershipChanged()
	}
	return errs
}

// CommitRequest is what a group checks of an OffsetCommit.
type CommitRequest struct {
	Group, MemberID, InstanceID string
	// Generation is a classic group's generation or a consumer-protocol
	// member's epoch; -1 for a standalone consumer.
	Generation int32
	// MemberEpochs is set from OffsetCommit v9 on, the versions a
	// consumer-protocol member commits with.
	MemberEpochs bool
}

// PartitionCheck says whether one partition of an allowed commit may be
// committed; a nil PartitionCheck allows every partition.
type PartitionCheck func(topic TopicID, partition int32) error

// CheckCommit says whether an offset commit may go ahead.
//
// Classic groups follow Kafka's GroupCoordinator.handleCommitOffsets: a
// commit with generation -1 and no member id is a standalone consumer's and
// needs a group with no members; a member's commit needs its current
// generation and is refused while the group waits for the leader's
// assignment. Consumer-protocol groups follow ConsumerGroup.
// validateOffsetCommit, with KIP-1251's per-partition check for a member
// committing from an earlier epoch.
func (c *Coordinator) CheckCommit(ctx context.Context, req CommitRequest) (PartitionCheck, error) {
	g, err := c.get(ctx, req.Group, false)
	if err != nil {
		return nil, err
	}
	if g == nil {
		if req.Generation < 0 {
			return nil, nil
		}
		return nil, ErrIllegalGeneration
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.consumer != nil {
		return g.consumer.checkCommit(req)
	}
	if req.Generation < 0 && req.MemberID == "" {
		if len(g.members) > 0 {
			return nil, ErrUnknownMember
		}
		return nil, nil
	}
	m, err := g.checkMember(req.MemberID, req.InstanceID, req.Generation)
	if err != nil {
		return nil, err
	}
	if g.state == CompletingRebalance {
		return nil, ErrRebalanceInProgress
	}
	g.touch(m)
	return nil, nil
}

// CheckFetch says whether an OffsetFetch (v9+) naming a member may read the
// group's offsets: a consumer-protocol member must be known and at its
// current epoch. Classic groups and requests naming no member always may.
func (c *Coordinator) CheckFetch(ctx context.Context, group, memberID string, memberEpoch int32) error {
	g, err := c.get(ctx, group, false)
	if err != nil {
		return err
	}
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.consumer == nil {
		return nil
	}
	return g.consumer.checkFetch(memberID, memberEpoch)
}

// Description is a group as DescribeGroups shows it.
type Description struct {
	State                  State
	ProtocolType, Protocol string
	Members                []MemberDescription
}

// MemberDescription is one member in a Description.
type MemberDescription struct {
	MemberID, InstanceID, ClientID, ClientHost string
	Metadata, Assignment                       []byte
}

// Describe returns a classic group, or ok=false when this gateway has no
// such group or it is a consumer-protocol one.
func (c *Coordinator) Describe(ctx context.Context, group string) (Description, bool, error) {
	g, err := c.get(ctx, group, false)
	if err != nil || g == nil {
		return Description{}, false, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.consumer != nil {
		return Description{}, false, nil
	}
	d := Description{State: g.state, ProtocolType: g.protocolType, Protocol: g.protocol}
	for _, id := range g.order {
		m := g.members[id]
		md := MemberDescription{MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost, Assignment: m.assignment}
		for _, p := range m.protocols {
			if p.Name == g.protocol {
				md.Metadata = p.Metadata
			}
		}
		d.Members = append(d.Members, md)
	}
	return d, true, nil
}

// Summary is a group as ListGroups shows it.
type Summary struct {
	State        State
	ProtocolType string
	// Type is ClassicType or ConsumerType.
	Type string
	// EmptySince is when the group last lost its last member, if it has
	// none now and had some on this gateway; zero otherwise.
	EmptySince time.Time
}

// Groups returns the groups this gateway knows, by name.
func (c *Coordinator) Groups() map[string]Summary {
	c.mu.Lock()
	gs := make([]*Group, 0, len(c.groups))
	for _, g := range c.groups {
		gs = append(gs, g)
	}
	c.mu.Unlock()
	out := make(map[string]Summary, len(gs))
	for _, g := range gs {
		g.mu.Lock()
		switch {
		case g.state == Dead:
		case g.consumer != nil:
			sum := Summary{State: g.consumer.state(), ProtocolType: ConsumerType, Type: ConsumerType}
			if len(g.consumer.members) == 0 {
				sum.EmptySince = g.emptySince
			}
			out[g.id] = sum
		default:
			sum := Summary{State: g.state, ProtocolType: g.protocolType, Type: ClassicType}
			if len(g.members) == 0 {
				sum.EmptySince = g.emptySince
			}
			out[g.id] = sum
		}
		g.mu.Unlock()
	}
	return out
}

// Delete marks an empty group dead and forgets it. It returns ErrNotEmpty while
// the group has members, and ErrGroupNotFound when this gateway has none.
func (c *Coordinator) Delete(ctx context.Context, group string) error {
	g, err := c.get(ctx, group, false)
	if err != nil {
		return err
	}
	if g == nil {
		return ErrGroupNotFound
	}
	g.mu.Lock()
	if len(g.members) > 0 || g.consumer != nil && len(g.consumer.members) > 0 {
		g.mu.Unlock()
		return ErrNotEmpty
	}
	if err := g.persist(ctx); err != nil {
		g.mu.Unlock()
		return err
	}
	g.state = Dead
	g.mu.Unlock()
	c.mu.Lock()
	delete(c.groups, group)
	c.mu.Unlock()
	return nil
}
