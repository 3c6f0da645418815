package group

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// State is a group's state, named as Kafka names them in DescribeGroups.
type State string

const (
	Empty               State = "Empty"
	PreparingRebalance  State = "PreparingRebalance"
	CompletingRebalance State = "CompletingRebalance"
	Stable              State = "Stable"
	Dead                State = "Dead"
)

// Defaults for Config's zero values: Kafka's group.min.session.timeout.ms and
// group.max.session.timeout.ms.
const (
	DefaultMinSessionTimeout = 6 * time.Second
	DefaultMaxSessionTimeout = 30 * time.Minute
	// DefaultMaxMembers bounds one group's membership so that a client
	// cannot grow a group's state without limit (group.max.size).
	DefaultMaxMembers = 10_000
)

// Config configures a Coordinator; zero values mean the defaults.
type Config struct {
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	MaxMembers        int
	// InitialRebalanceDelay is Kafka's group.initial.rebalance.delay.ms: how
	// long the first rebalance of an empty group waits for more members.
	// Default 0, so a lone consumer starts at once.
	InitialRebalanceDelay time.Duration
	// ConsumerSessionTimeout and ConsumerHeartbeatInterval govern
	// consumer-protocol members (KIP-848), which the coordinator rather
	// than the client times.
	ConsumerSessionTimeout    time.Duration
	ConsumerHeartbeatInterval time.Duration
	// Topics lists the topics that exist, for server-side assignment.
	Topics func() []TopicMeta
	// Store keeps membership so that a group outlives this gateway; nil
	// keeps it in memory only.
	Store GroupStore
	// Coordinates reports whether this gateway coordinates a group; every
	// operation on a group it does not fails with ErrNotCoordinator. Nil:
	// every group.
	Coordinates func(group string) bool
	Logger      *slog.Logger
}

// Coordinator holds the groups this gateway coordinates.
type Coordinator struct {
	cfg Config

	mu     sync.Mutex
	groups map[string]*Group
	// absent holds groups the store was found not to have, so that
	// requests naming them (standalone commits, fetches, describes) do not
	// read the store each time. It is exact while this gateway coordinates
	// them, because only a group's coordinator writes its records and every
	// write goes through a Group in memory; ReleaseUnless clears it.
	absent map[string]bool
}

// New returns a Coordinator.
func New(cfg Config) *Coordinator {
	if cfg.MinSessionTimeout <= 0 {
		cfg.MinSessionTimeout = DefaultMinSessionTimeout
	}
	if cfg.MaxSessionTimeout <= 0 {
		cfg.MaxSessionTimeout = DefaultMaxSessionTimeout
	}
	if cfg.MaxMembers <= 0 {
		cfg.MaxMembers = DefaultMaxMembers
	}
	if cfg.ConsumerSessionTimeout <= 0 {
		cfg.ConsumerSessionTimeout = DefaultConsumerSessionTimeout
	}
	if cfg.ConsumerHeartbeatInterval <= 0 {
		cfg.ConsumerHeartbeatInterval = DefaultConsumerHeartbeatInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Coordinator{cfg: cfg, groups: make(map[string]*Group), absent: make(map[string]bool)}
}

// Group is one group, classic or consumer-protocol. Its mutex guards every
// field below it.
type Group struct {
	c  *Coordinator
	id string

	mu           sync.Mutex
	state        State
	generation   int32
	protocolType string
	protocol     string
	leader       string
	members      map[string]*member
	order        []string        // member ids in join order: the next leader is the oldest
	pending      map[string]bool // ids handed out with MEMBER_ID_REQUIRED, not yet joined
	static       map[string]string
	rebalance    *time.Timer
	// emptySince is when the group last lost its last member; zero while
	// it has members or never had any on this gateway.
	emptySince time.Time
	// rev is the revision of the group's stored meta record (0: none);
	// savedMeta and saved are the records last written, and dirty and
	// dirtyAll the members whose records may be stale (persist.go).
	rev       uint64
	savedMeta []byte
	saved     map[string][]byte
	dirty     map[string]bool
	dirtyAll  bool
	// consumer is set while the group is a consumer-protocol group; the
	// classic fields above are then unused. An empty group changes type
	// when a member of the other protocol joins.
	consumer *consumerGroup
}

type member struct {
	id, instanceID, clientID, clientHost string
	protocols                            []Protocol
	sessionTimeout, rebalanceTimeout     time.Duration
	assignment                           []byte

	joined  bool            // rejoined in the rebalance under way
	joinCh  chan JoinResult // a waiting JoinGroup, if any
	syncCh  chan SyncResult // a waiting SyncGroup, if any
	session *time.Timer
}

// Protocol is one assignor a member supports, with its metadata.
type Protocol struct {
	Name     string
	Metadata []byte
}

func (c *Coordinator) newGroup(id string) *Group {
	return &Group{c: c, id: id, state: Empty, members: map[string]*member{}, pending: map[string]bool{}, static: map[string]string{}}
}

// get returns the group from memory, else from the store (see persist.go),
// else, when create is set, a new empty one; nil when there is none. It
// fails, wrapping ErrNotPersisted, only when the store cannot be read.
func (c *Coordinator) get(ctx context.Context, id string, create bool) (*Group, error) {
	if id == "" {
		return nil, nil // Kafka's INVALID_GROUP_ID; never a group here
	}
	if c.cfg.Coordinates != nil && !c.cfg.Coordinates(id) {
		return nil, ErrNotCoordinator
	}
	c.mu.Lock()
	g, absent := c.groups[id], c.absent[id]
	c.mu.Unlock()
	switch {
	case g != nil:
		return g, nil
	case absent && !create:
		return nil, nil
	}
	var loaded *Group
	if !absent {
		var err error
		if loaded, err = c.load(ctx, id); err != nil {
			return nil, fmt.Errorf("%w: load group %q: %w", ErrNotPersisted, id, err)
		}
	}
	if loaded == nil && !create {
		c.mu.Lock()
		if len(c.absent) >= maxAbsent {
			clear(c.absent) // a bound, not an eviction policy
		}
		c.absent[id] = true
		c.mu.Unlock()
		return nil, nil
	}
	if loaded == nil {
		loaded = c.newGroup(id)
	}
	c.mu.Lock()
	if cur := c.groups[id]; cur != nil {
		c.mu.Unlock()
		return cur, nil // another request got here first
	}
	c.groups[id] = loaded
	delete(c.absent, id)
	c.mu.Unlock()
	loaded.resume()
	return loaded, nil
}

// maxAbsent bounds Coordinator.absent.
const maxAbsent = 1 << 16

// maxClientIDInMemberID caps the client id part of a generated member id:
// member ids are keys in the coordinator store, and a client id can be long.
const maxClientIDInMemberID = 64

func newMemberID(clientID string) string {
	if len(clientID) > maxClientIDInMemberID {
		clientID = clientID[:maxClientIDInMemberID]
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	return clientID + "-" + hex.EncodeToString(b[:])
}

// JoinRequest is a JoinGroup.
type JoinRequest struct {
	Group, MemberID, InstanceID, ClientID, ClientHost string
	ProtocolType                                      string
	Protocols                                         []Protocol
	SessionTimeout, RebalanceTimeout                  time.Duration
	// RequireKnownMemberID is set from JoinGroup v4 on (KIP-394): a member
	// joining without an id first gets MEMBER_ID_REQUIRED and its id.
	RequireKnownMemberID bool
}

// JoinResult answers a JoinGroup. Members is set for the leader only.
type JoinResult struct {
	Err                        error
	Generation                 int32
	ProtocolType, Protocol     string
	Leader, MemberID           string
	Members                    []MemberMetadata
	SkipAssignmentForFollowers bool
}

// MemberMetadata is a member as the leader sees it in its JoinGroup response.
type MemberMetadata struct {
	MemberID, InstanceID string
	Metadata             []byte
}

// Join adds or refreshes a member and waits until the rebalance it joined
// completes, the member is dropped, or ctx ends.
func (c *Coordinator) Join(ctx context.Context, req JoinRequest) JoinResult {
	if req.SessionTimeout < c.cfg.MinSessionTimeout || req.SessionTimeout > c.cfg.MaxSessionTimeout {
		return JoinResult{Err: ErrInvalidSessionTimeout, MemberID: req.MemberID}
	}
	if req.ProtocolType == "" || len(req.Protocols) == 0 {
		return JoinResult{Err: ErrInconsistentProtocol, MemberID: req.MemberID}
	}
	// A rebalance waits for members up to the largest rebalance timeout; cap
	// it like a session so one client cannot hold a group for days.
	if req.RebalanceTimeout <= 0 {
		req.RebalanceTimeout = req.SessionTimeout
	}
	req.RebalanceTimeout = min(req.RebalanceTimeout, c.cfg.MaxSessionTimeout)
	g, err := c.get(ctx, req.Group, true)
	if err != nil {
		return JoinResult{Err: err, MemberID: req.MemberID}
	}
	ch, res := g.join(ctx, req)
	if ch == nil {
		return res
	}
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		return JoinResult{Err: ErrRebalanceInProgress, MemberID: res.MemberID}
	}
}

// join applies a JoinGroup under the lock; it returns a channel to wait on, or
// an immediate result.
func (g *Group) join(ctx context.Context, req JoinRequest) (<-chan JoinResult, JoinResult) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fail := func(err error) (<-chan JoinResult, JoinResult) {
		return nil, JoinResult{Err: err, MemberID: req.MemberID}
	}
	if g.state == Dead {
		return fail(ErrGroupDead)
	}
	if g.consumer != nil {
		if len(g.consumer.members) > 0 {
			return fail(fmt.Errorf("%w: group %q is a consumer-protocol group", ErrInconsistentProtocol, g.id))
		}
		g.consumer = nil
	}
	if len(g.members) > 0 && (req.ProtocolType != g.protocolType || !g.supportsAll(req.Protocols)) {
		return fail(ErrInconsistentProtocol)
	}
	id := req.MemberID
	switch {
	case id == "" && req.InstanceID != "":
		// KIP-345: a static member gets a fresh id; the old one is fenced.
		id = newMemberID(req.ClientID)
		old, hadOld := g.static[req.InstanceID]
		g.static[req.InstanceID] = id
		if hadOld {
			if m, ok := g.members[old]; ok {
				g.replaceMember(old, id, m)
				if g.state == Stable {
					// A static member restarting keeps its assignment
					// without a rebalance unless its protocols would
					// change the group's assignor (Kafka's
					// updateStaticMemberAndRebalance). Its metadata may
					// differ: sticky assignors put the previous
					// assignment there, which a restart forgets.
					m.protocols = req.Protocols
					m.clientID, m.clientHost = req.ClientID, req.ClientHost
					if g.chooseProtocol() == g.protocol {
						g.markAllDirty() // the member id changed
						if err := g.persist(ctx); err != nil {
							return nil, JoinResult{Err: err, MemberID: req.MemberID}
						}
						g.touch(m)
						return nil, g.joinResult(m)
					}
				}
			}
		}
	case id == "" && req.RequireKnownMemberID:
		id = newMemberID(req.ClientID)
		g.pending[id] = true
		return nil, JoinResult{Err: ErrMemberIDRequired, MemberID: id}
	case id == "":
		id = newMemberID(req.ClientID)
	default:
		if _, known := g.members[id]; !known && !g.pending[id] {
			return fail(ErrUnknownMember)
		}
		if req.InstanceID != "" && g.static[req.InstanceID] != "" && g.static[req.InstanceID] != id {
			return fail(ErrFencedInstance)
		}
	}
	delete(g.pending, id)

	m, known := g.members[id]
	if !known {
		if len(g.members) >= g.c.cfg.MaxMembers {
			return fail(ErrGroupFull)
		}
		m = &member{id: id}
		g.members[id] = m
		g.order = append(g.order, id)
		if len(g.members) == 1 {
			g.protocolType = req.ProtocolType
		}
	}
	unchanged := known && slices.EqualFunc(m.protocols, req.Protocols, protocolEqual)
	m.instanceID, m.clientID, m.clientHost = req.InstanceID, req.ClientID, req.ClientHost
	m.protocols, m.sessionTimeout, m.rebalanceTimeout = req.Protocols, req.SessionTimeout, req.RebalanceTimeout

	// A follower rejoining a stable group with the same subscription gets the
	// current generation back without a rebalance, as in Kafka.
	if g.state == Stable && unchanged && id != g.leader {
		g.touch(m)
		return nil, g.joinResult(m)
	}
	m.joined = true
	if m.session != nil {
		m.session.Stop() // the rebalance timeout governs a waiting member
	}
	ch := make(chan JoinResult, 1)
	if m.joinCh != nil {
		m.joinCh <- JoinResult{Err: ErrUnknownMember, MemberID: id} // superseded
	}
	m.joinCh = ch
	if g.state != PreparingRebalance {
		g.prepareRebalance()
	}
	g.maybeCompleteJoin()
	return ch, JoinResult{MemberID: id}
}

func protocolEqual(a, b Protocol) bool {
	return a.Name == b.Name && string(a.Metadata) == string(b.Metadata)
}

// supportsAll reports whether every member supports one of protocols.
func (g *Group) supportsAll(protocols []Protocol) bool {
	for _, p := range protocols {
		all := true
		for _, m := range g.members {
			if !slices.ContainsFunc(m.protocols, func(q Protocol) bool { return q.Name == p.Name }) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func (g *Group) replaceMember(old, id string, m *member) {
	delete(g.members, old)
	m.id = id
	g.members[id] = m
	for i, o := range g.order {
		if o == old {
			g.order[i] = id
		}
	}
	if g.leader == old {
		g.leader = id
	}
	if m.joinCh != nil {
		m.joinCh <- JoinResult{Err: ErrFencedInstance, MemberID: old}
		m.joinCh = nil
	}
	if m.syncCh != nil {
		m.syncCh <- SyncResult{Err: ErrFencedInstance}
		m.syncCh = nil
	}
}

// prepareRebalance starts a rebalance: waiting syncs are told to rejoin, and the
// rebalance completes when everyone has rejoined or the timeout passes.
func (g *Group) prepareRebalance() {
	for _, m := range g.members {
		if m.syncCh != nil {
			m.syncCh <- SyncResult{Err: ErrRebalanceInProgress}
			m.syncCh = nil
		}
	}
	wait := g.c.cfg.InitialRebalanceDelay
	if g.state != Empty {
		wait = 0
		for _, m := range g.members {
			wait = max(wait, m.rebalanceTimeout)
		}
	}
	g.state = PreparingRebalance
	if g.rebalance != nil {
		g.rebalance.Stop()
	}
	gen := g.generation
	g.rebalance = time.AfterFunc(wait, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.state == PreparingRebalance && g.generation == gen {
			g.completeJoin()
		}
	})
}

// maybeCompleteJoin completes the rebalance once every member has rejoined.
func (g *Group) maybeCompleteJoin() {
	if g.state != PreparingRebalance {
		return
	}
	for _, m := range g.members {
		if !m.joined {
			return
		}
	}
	if g.c.cfg.InitialRebalanceDelay > 0 && g.generation == 0 {
		return // the first rebalance waits out the initial delay
	}
	g.completeJoin()
}

// completeJoin ends the join phase: members that did not rejoin are dropped, the
// generation moves on, and every waiting member gets its answer.
func (g *Group) completeJoin() {
	if g.rebalance != nil {
		g.rebalance.Stop()
	}
	for _, id := range slices.Clone(g.order) {
		if m := g.members[id]; !m.joined {
			g.remove(m, ErrUnknownMember)
		}
	}
	g.generation++
	if len(g.members) == 0 {
		g.state, g.protocol, g.leader, g.protocolType = Empty, "", "", ""
		g.emptySince = time.Now()
		g.persistNow()
		return
	}
	g.protocol = g.chooseProtocol()
	if _, ok := g.members[g.leader]; !ok {
		g.leader = g.order[0]
	}
	g.state = CompletingRebalance
	for _, m := range g.members {
		m.joined = false
		res := g.joinResult(m)
		if m.joinCh != nil {
			m.joinCh <- res
			m.joinCh = nil
		}
		g.touch(m)
	}
}

// chooseProtocol picks, among the protocols every member supports, the one
// most members list first among those (Kafka's vote in
// GroupMetadata.selectProtocol).
func (g *Group) chooseProtocol() string {
	var candidates []string
	for _, p := range g.members[g.order[0]].protocols {
		all := true
		for _, m := range g.members {
			if !slices.ContainsFunc(m.protocols, func(q Protocol) bool { return q.Name == p.Name }) {
				all = false
				break
			}
		}
		if all {
			candidates = append(candidates, p.Name)
		}
	}
	votes := map[string]int{}
	for _, id := range g.order {
		for _, p := range g.members[id].protocols {
			if slices.Contains(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, c := range candidates {
		if best == "" || votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

func (g *Group) joinResult(m *member) JoinResult {
	res := JoinResult{Generation: g.generation, ProtocolType: g.protocolType, Protocol: g.protocol, Leader: g.leader, MemberID: m.id}
	if m.id == g.leader {
		for _, id := range g.order {
			o := g.members[id]
			md := MemberMetadata{MemberID: o.id, InstanceID: o.instanceID}
			for _, p := range o.protocols {
				if p.Name == g.protocol {
					md.Metadata = p.Metadata
				}
			}
			res.Members = append(res.Members, md)
		}
	}
	return res
}

// touch restarts m's session timer.
func (g *Group) touch(m *member) {
	if m.session != nil {
		m.session.Stop()
	}
	id := m.id
	m.session = time.AfterFunc(m.sessionTimeout, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if cur, ok := g.members[id]; ok && cur == m && m.joinCh == nil {
			g.c.cfg.Logger.Debug("member session expired", "group", g.id, "member", id)
			g.remove(m, ErrUnknownMember)
			g.membershipChanged()
		}
	})
}

// remove drops m, answering any request it has waiting with err.
func (g *Group) remove(m *member, err error) {
	m.release(err)
	delete(g.members, m.id)
	g.order = slices.DeleteFunc(g.order, func(id string) bool { return id == m.id })
	if m.instanceID != "" && g.static[m.instanceID] == m.id {
		delete(g.static, m.instanceID)
	}
}

// release stops m's session timer and answers its waiting requests with err.
func (m *member) release(err error) {
	if m.session != nil {
		m.session.Stop()
	}
	if m.joinCh != nil {
		m.joinCh <- JoinResult{Err: err, MemberID: m.id}
		m.joinCh = nil
	}
	if m.syncCh != nil {
		m.syncCh <- SyncResult{Err: err}
		m.syncCh = nil
	}
}

// membershipChanged starts a rebalance after a member left or expired.
func (g *Group) membershipChanged() {
	switch {
	case len(g.members) == 0 && g.state != PreparingRebalance:
		g.state, g.protocol, g.leader, g.protocolType = Empty, "", "", ""
		g.generation++
		g.emptySince = time.Now()
		g.persistNow()
	case g.state == Stable || g.state == CompletingRebalance:
		g.prepareRebalance()
	case g.state == PreparingRebalance:
		if len(g.members) == 0 {
			g.completeJoin()
		} else {
			g.maybeCompleteJoin()
		}
	}
}
