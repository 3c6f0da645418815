package group

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"
)

// This file runs consumer-protocol groups (KIP-848): members heartbeat with
// ConsumerGroupHeartbeat, the coordinator computes the assignment, and each
// member converges on its share one heartbeat at a time. It follows Kafka's
// GroupMetadataManager and CurrentAssignmentBuilder:
//
//   - The group epoch counts changes to membership, subscriptions and the
//     subscribed topics' partitions. Each bump recomputes the target
//     assignment at once, so the target epoch always equals the group epoch
//     (the group is never Assigning).
//   - A member moves towards its target without ever sharing a partition: it
//     is first told to revoke what it must give up (its epoch stays, so it can
//     still commit those partitions), and only once its heartbeat no longer
//     lists them does it move to the target epoch. A partition is handed to
//     its new owner only once its previous owner has released it.
//   - A member that does not heartbeat within the session timeout, or does not
//     revoke within its rebalance timeout, is removed.

// Defaults for consumer-protocol groups: Kafka's
// group.consumer.session.timeout.ms and group.consumer.heartbeat.interval.ms.
const (
	DefaultConsumerSessionTimeout    = 45 * time.Second
	DefaultConsumerHeartbeatInterval = 5 * time.Second
)

// Server-side assignors a member may ask for.
const (
	UniformAssignor = "uniform"
	RangeAssignor   = "range"
)

// States of a consumer-protocol group beyond Empty, Stable and Dead.
const (
	Assigning   State = "Assigning"
	Reconciling State = "Reconciling"
)

// Group types, as ListGroups (v5+) names them.
const (
	ClassicType  = "classic"
	ConsumerType = "consumer"
)

// Special member epochs of ConsumerGroupHeartbeat.
const (
	joinEpoch        = 0
	leaveEpoch       = -1
	staticLeaveEpoch = -2
)

// maxMemberIDBytes caps a client-generated member id (v1 members generate
// their own, a UUID in practice): member ids are keys in the coordinator
// store.
const maxMemberIDBytes = 256

// maxRegexBytes caps a subscription regex: compiling one costs memory in
// proportion to its length, and real subscriptions are short.
const maxRegexBytes = 4096

// subscriptionRefresh bounds how long a group goes without noticing a new
// topic that matches a subscription, or new partitions of a subscribed topic.
const subscriptionRefresh = time.Second

// TopicID identifies a topic (KIP-516).
type TopicID = [16]byte

// Assignment maps topics to partitions. Partition lists are sorted.
type Assignment map[TopicID][]int32

// TopicMeta is a topic as server-side assignment sees it.
type TopicMeta struct {
	ID         TopicID
	Name       string
	Partitions int32
}

// ConsumerHeartbeat is a ConsumerGroupHeartbeat. A member sends the optional
// fields (nil, or negative RebalanceTimeout) only when they change.
type ConsumerHeartbeat struct {
	Group, MemberID      string
	MemberEpoch          int32
	InstanceID, RackID   *string
	ClientID, ClientHost string
	RebalanceTimeout     time.Duration
	SubscribedTopicNames []string
	SubscribedTopicRegex *string
	ServerAssignor       *string
	// Owned is what the member owns now; nil when not sent.
	Owned Assignment
	// AssignMemberID is set for version 0, where the coordinator chooses a
	// joining member's id; from version 1 the member generates it.
	AssignMemberID bool
}

// ConsumerHeartbeatResult answers a ConsumerGroupHeartbeat.
type ConsumerHeartbeatResult struct {
	Err               error
	MemberID          string
	MemberEpoch       int32
	HeartbeatInterval time.Duration
	// Assignment is the member's whole assignment, or nil when it has not
	// changed and the request was not a full one.
	Assignment Assignment
}

type memberState int8

const (
	memberStable     memberState = iota // owns its share of the target epoch
	memberUnrevoked                     // must give up partitions before moving on
	memberUnreleased                    // waits for partitions others still hold
)

func (s memberState) String() string {
	return [...]string{"stable", "unrevoked", "unreleased"}[s]
}

type consumerMember struct {
	id, instanceID, rackID, clientID, clientHost string
	rebalanceTimeout                             time.Duration

	subscribedNames []string // sorted
	regexSource     string
	regex           *regexp.Regexp
	assignor        string

	epoch, prevEpoch int32
	state            memberState
	assigned         Assignment // what the member was last told it owns
	revoking         Assignment // what it was told to give up and still may hold
	target           Assignment // its share of the group's target assignment
	// assignedAt is the member epoch at which each assigned partition was
	// given: a commit from an older epoch may cover only partitions the
	// member held then.
	assignedAt map[TopicID]map[int32]int32

	session, revocation *time.Timer
}

type partitionOwner struct {
	member string
	epoch  int32
}

// consumerGroup is the consumer-protocol state of a Group.
type consumerGroup struct {
	epoch, targetEpoch int32
	assignor           string
	members            map[string]*consumerMember
	static             map[string]string // instance id → member id
	// owners holds, per partition, the member that holds it (assigned or
	// still revoking) and at which epoch: a partition is free to hand out
	// only when it has no owner.
	owners map[TopicID]map[int32]partitionOwner
	// topics is what the current target was computed from: every subscribed
	// topic that exists.
	topics      map[TopicID]TopicMeta
	refreshedAt time.Time
}

func newConsumerGroup() *consumerGroup {
	return &consumerGroup{
		assignor: UniformAssignor,
		members:  map[string]*consumerMember{},
		static:   map[string]string{},
		owners:   map[TopicID]map[int32]partitionOwner{},
		topics:   map[TopicID]TopicMeta{},
	}
}

// checkHeartbeat applies Kafka's request validation (GroupMetadataManager.
// throwIfConsumerGroupHeartbeatRequestIsInvalid).
func checkHeartbeat(req ConsumerHeartbeat) error {
	invalid := func(msg string) error { return fmt.Errorf("%w: %s", ErrInvalidHeartbeat, msg) }
	switch {
	case req.Group == "":
		return invalid("GroupId can't be empty.")
	case req.InstanceID != nil && *req.InstanceID == "":
		return invalid("InstanceId can't be empty.")
	case req.RackID != nil && *req.RackID == "":
		return invalid("RackId can't be empty.")
	case req.MemberID == "" && (req.MemberEpoch != joinEpoch || !req.AssignMemberID):
		return invalid("MemberId can't be empty.")
	case len(req.MemberID) > maxMemberIDBytes:
		return invalid(fmt.Sprintf("MemberId is longer than %d bytes.", maxMemberIDBytes))
	case req.MemberEpoch < staticLeaveEpoch:
		return invalid("MemberEpoch is invalid.")
	case req.MemberEpoch == staticLeaveEpoch && req.InstanceID == nil:
		return invalid("InstanceId can't be null.")
	}
	if req.MemberEpoch == joinEpoch {
		switch {
		case req.RebalanceTimeout < 0:
			return invalid("RebalanceTimeoutMs must be provided in first request.")
		case req.Owned == nil || len(req.Owned) > 0:
			return invalid("TopicPartitions must be empty when (re-)joining.")
		case req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil:
			return invalid("Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.")
		}
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != UniformAssignor && *req.ServerAssignor != RangeAssignor {
		return fmt.Errorf("%w: %q", ErrUnsupportedAssignor, *req.ServerAssignor)
	}
	if req.SubscribedTopicRegex != nil {
		if len(*req.SubscribedTopicRegex) > maxRegexBytes {
			return fmt.Errorf("%w: longer than %d bytes", ErrInvalidRegex, maxRegexBytes)
		}
		if _, err := compileTopicRegex(*req.SubscribedTopicRegex); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidRegex, err)
		}
	}
	return nil
}

// compileTopicRegex compiles a subscription regex. Kafka matches it against
// the whole topic name (RE2/J's matches()), so it is anchored here.
func compileTopicRegex(expr string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + expr + ")$")
}

// ConsumerHeartbeat joins, refreshes or removes a consumer-protocol member
// and returns its epoch and, when it changed, its assignment.
func (c *Coordinator) ConsumerHeartbeat(ctx context.Context, req ConsumerHeartbeat) ConsumerHeartbeatResult {
	res := ConsumerHeartbeatResult{MemberID: req.MemberID, MemberEpoch: req.MemberEpoch, HeartbeatInterval: c.cfg.ConsumerHeartbeatInterval}
	if err := checkHeartbeat(req); err != nil {
		res.Err = err
		return res
	}
	req.Owned = normalize(req.Owned)
	g, err := c.get(ctx, req.Group, true)
	if err != nil {
		res.Err = err
		return res
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	res = g.consumerHeartbeat(req, res)
	if res.Err == nil {
		if err := g.persist(ctx); err != nil {
			// Nothing of this heartbeat is on record: the member must
			// not act on it.
			return ConsumerHeartbeatResult{Err: err, MemberID: req.MemberID, MemberEpoch: req.MemberEpoch, HeartbeatInterval: res.HeartbeatInterval}
		}
	}
	return res
}

// consumerHeartbeat applies a heartbeat under g.mu, marking what changed.
func (g *Group) consumerHeartbeat(req ConsumerHeartbeat, res ConsumerHeartbeatResult) ConsumerHeartbeatResult {
	if g.state == Dead {
		res.Err = ErrGroupDead
		return res
	}
	if g.consumer == nil {
		if len(g.members) > 0 {
			res.Err = fmt.Errorf("%w: group %q is a classic group", ErrNotConsumerGroup, req.Group)
			return res
		}
		g.consumer = newConsumerGroup()
	}
	switch req.MemberEpoch {
	case leaveEpoch:
		return g.consumerLeave(req, res)
	case staticLeaveEpoch:
		return g.consumerStaticLeave(req, res)
	}
	m, joined, err := g.consumerMember(req)
	if err != nil {
		res.Err = err
		return res
	}
	return g.consumerUpdate(m, joined, req, res)
}

// consumerMember returns the member a heartbeat is from, creating it on a
// join (joined), after Kafka's checks of member ids, static instances and
// epochs.
func (g *Group) consumerMember(req ConsumerHeartbeat) (m *consumerMember, joined bool, err error) {
	cg := g.consumer
	if req.MemberEpoch != joinEpoch {
		if req.InstanceID != nil {
			if cur, ok := cg.static[*req.InstanceID]; ok && cur != req.MemberID {
				return nil, false, ErrFencedInstance
			}
		}
		m, ok := cg.members[req.MemberID]
		if !ok {
			return nil, false, ErrUnknownMember
		}
		// A member one epoch behind whose owned partitions are within its
		// assignment lost the response that moved it on: accept it, and the
		// response gives it the current epoch.
		if req.MemberEpoch > m.epoch ||
			req.MemberEpoch < m.epoch && (req.MemberEpoch != m.prevEpoch || req.Owned == nil || !contains(m.assigned, req.Owned)) {
			return nil, false, fmt.Errorf("%w: member %s sent epoch %d, current %d", ErrFencedMemberEpoch, m.id, req.MemberEpoch, m.epoch)
		}
		return m, false, nil
	}

	id := req.MemberID
	if id == "" {
		id = newMemberID(req.ClientID)
	}
	if cur, ok := cg.members[id]; ok && cur.epoch != staticLeaveEpoch {
		// A rejoin under the same id keeps the member's state (Kafka does
		// the same); it reports owning nothing, so whatever it was
		// revoking is released when it reconciles.
		return cur, false, nil
	}
	m = &consumerMember{id: id, assignor: UniformAssignor, target: Assignment{}}
	if req.InstanceID != nil {
		if prevID, ok := cg.static[*req.InstanceID]; ok {
			prev := cg.members[prevID]
			if prev != nil && prev.epoch != staticLeaveEpoch {
				return nil, false, fmt.Errorf("%w: instance %q is held by member %s", ErrUnreleasedInstance, *req.InstanceID, prevID)
			}
			if prev != nil {
				// KIP-345: the new instance takes over the previous one's
				// assignment and subscription without a rebalance.
				g.dropConsumerMember(prev)
				m.subscribedNames, m.regexSource, m.regex, m.assignor = prev.subscribedNames, prev.regexSource, prev.regex, prev.assignor
				m.assigned, m.target, m.assignedAt = prev.assigned, prev.target, prev.assignedAt
				cg.members[id] = m
				cg.static[*req.InstanceID] = id
				cg.addOwners(m.id, m.assigned, m.epoch)
				return m, false, nil
			}
		}
	}
	if len(cg.members) >= g.c.cfg.MaxMembers {
		return nil, false, ErrGroupFull
	}
	cg.members[id] = m
	if req.InstanceID != nil {
		cg.static[*req.InstanceID] = id
	}
	return m, true, nil
}

// consumerUpdate applies a heartbeat of a known (or just joined) member: its
// subscription, the group's target assignment, and its reconciliation.
func (g *Group) consumerUpdate(m *consumerMember, joined bool, req ConsumerHeartbeat, res ConsumerHeartbeatResult) ConsumerHeartbeatResult {
	cg := g.consumer
	g.markDirty(m.id)
	m.clientID, m.clientHost = req.ClientID, req.ClientHost
	if req.InstanceID != nil {
		m.instanceID = *req.InstanceID
	}
	if req.RackID != nil {
		m.rackID = *req.RackID
	}
	if req.RebalanceTimeout >= 0 {
		m.rebalanceTimeout = req.RebalanceTimeout
	}
	subscriptionChanged := joined
	if req.SubscribedTopicNames != nil {
		names := slices.Clone(req.SubscribedTopicNames)
		slices.Sort(names)
		names = slices.Compact(names)
		if !slices.Equal(names, m.subscribedNames) {
			m.subscribedNames, subscriptionChanged = names, true
		}
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != m.regexSource {
		m.regexSource, subscriptionChanged = *req.SubscribedTopicRegex, true
		m.regex = nil
		if m.regexSource != "" {
			m.regex, _ = compileTopicRegex(m.regexSource) // checked in checkHeartbeat
		}
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != m.assignor {
		m.assignor, subscriptionChanged = *req.ServerAssignor, true
	}
	if subscriptionChanged {
		cg.epoch++
	}
	g.refreshTargetIfStale(subscriptionChanged)
	g.touchConsumer(m)

	before := m.assigned
	g.reconcile(m, req.Owned)
	g.armRevocation(m)

	res.MemberID, res.MemberEpoch = m.id, m.epoch
	full := req.MemberEpoch == joinEpoch ||
		req.RebalanceTimeout >= 0 && (req.SubscribedTopicNames != nil || req.SubscribedTopicRegex != nil) && req.Owned != nil
	if full || !assignmentEqual(before, m.assigned) {
		res.Assignment = cloneAssignment(m.assigned)
		if res.Assignment == nil {
			res.Assignment = Assignment{}
		}
	}
	g.c.cfg.Logger.Debug("consumer heartbeat", "group", g.id, "member", m.id, "epoch", m.epoch, "group_epoch", cg.epoch, "state", m.state,
		"assigned", countAssignment(m.assigned), "revoking", countAssignment(m.revoking), "target", countAssignment(m.target))
	return res
}

// consumerLeave removes a member for good (epoch -1).
func (g *Group) consumerLeave(req ConsumerHeartbeat, res ConsumerHeartbeatResult) ConsumerHeartbeatResult {
	cg := g.consumer
	id := req.MemberID
	if req.InstanceID != nil {
		cur, ok := cg.static[*req.InstanceID]
		switch {
		case !ok:
			res.Err = ErrUnknownMember
			return res
		case cur != id:
			res.Err = ErrFencedInstance
			return res
		}
	}
	m, ok := cg.members[id]
	if !ok {
		res.Err = ErrUnknownMember
		return res
	}
	g.removeConsumerMember(m)
	res.MemberEpoch = leaveEpoch
	return res
}

// consumerStaticLeave parks a static member (epoch -2): it keeps its
// partitions until it comes back under the same instance id or its session
// times out, so a restart does not move them.
func (g *Group) consumerStaticLeave(req ConsumerHeartbeat, res ConsumerHeartbeatResult) ConsumerHeartbeatResult {
	cg := g.consumer
	cur, ok := cg.static[*req.InstanceID]
	switch {
	case !ok:
		res.Err = ErrUnknownMember
		return res
	case cur != req.MemberID:
		res.Err = ErrFencedInstance
		return res
	}
	m, ok := cg.members[req.MemberID]
	if !ok {
		res.Err = ErrUnknownMember
		return res
	}
	g.markDirty(m.id)
	cg.removeOwners(m.id, m.assigned)
	cg.removeOwners(m.id, m.revoking)
	m.revoking = nil
	m.epoch, m.prevEpoch, m.state = staticLeaveEpoch, staticLeaveEpoch, memberStable
	cg.addOwners(m.id, m.assigned, m.epoch)
	stopTimer(&m.revocation)
	res.MemberEpoch = staticLeaveEpoch
	return res
}

// removeConsumerMember drops m and rebalances the rest.
func (g *Group) removeConsumerMember(m *consumerMember) {
	cg := g.consumer
	g.dropConsumerMember(m)
	if m.instanceID != "" && cg.static[m.instanceID] == m.id {
		delete(cg.static, m.instanceID)
	}
	cg.epoch++
	g.refreshTargetIfStale(true)
	if len(cg.members) == 0 {
		g.emptySince = time.Now()
	}
}

// dropConsumerMember forgets m and frees what it holds.
func (g *Group) dropConsumerMember(m *consumerMember) {
	cg := g.consumer
	g.markDirty(m.id)
	stopTimer(&m.session)
	stopTimer(&m.revocation)
	cg.removeOwners(m.id, m.assigned)
	cg.removeOwners(m.id, m.revoking)
	delete(cg.members, m.id)
}

func stopTimer(t **time.Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}

// touchConsumer restarts m's session timer.
func (g *Group) touchConsumer(m *consumerMember) {
	stopTimer(&m.session)
	m.session = time.AfterFunc(g.c.cfg.ConsumerSessionTimeout, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.consumer != nil && g.consumer.members[m.id] == m {
			g.c.cfg.Logger.Info("consumer group member session expired", "group", g.id, "member", m.id)
			g.removeConsumerMember(m)
			g.persistNow()
		}
	})
}

// armRevocation gives a member that must revoke partitions its rebalance
// timeout to do so, and removes it when it does not.
func (g *Group) armRevocation(m *consumerMember) {
	if m.state != memberUnrevoked {
		stopTimer(&m.revocation)
		return
	}
	if m.revocation != nil {
		return // already counting since the revocation was asked
	}
	epoch := m.epoch
	timeout := m.rebalanceTimeout
	if timeout <= 0 {
		timeout = g.c.cfg.ConsumerSessionTimeout
	}
	m.revocation = time.AfterFunc(timeout, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.consumer != nil && g.consumer.members[m.id] == m && m.state == memberUnrevoked && m.epoch == epoch {
			g.c.cfg.Logger.Info("consumer group member did not revoke in its rebalance timeout", "group", g.id, "member", m.id)
			g.removeConsumerMember(m)
			g.persistNow()
		}
	})
}

// refreshTargetIfStale recomputes the group's subscribed topics when asked or
// when they are older than subscriptionRefresh, bumps the group epoch when
// they changed, and recomputes the target assignment when the epoch moved.
func (g *Group) refreshTargetIfStale(force bool) {
	cg := g.consumer
	now := time.Now()
	if force || now.Sub(cg.refreshedAt) >= subscriptionRefresh {
		cg.refreshedAt = now
		topics := g.subscribedTopics()
		if !maps.Equal(topics, cg.topics) {
			cg.topics = topics
			cg.epoch++
		}
	}
	if cg.targetEpoch != cg.epoch {
		cg.assignor = cg.preferredAssignor()
		assignTargets(cg)
		cg.targetEpoch = cg.epoch
		g.markAllDirty()
	}
}

// subscribedTopics resolves every member's subscription against the topics
// that exist now.
func (g *Group) subscribedTopics() map[TopicID]TopicMeta {
	out := map[TopicID]TopicMeta{}
	if g.c.cfg.Topics == nil {
		return out
	}
	names := map[string]bool{}
	var regexes []*regexp.Regexp
	seen := map[string]bool{}
	for _, m := range g.consumer.members {
		for _, n := range m.subscribedNames {
			names[n] = true
		}
		if m.regex != nil && !seen[m.regexSource] {
			seen[m.regexSource] = true
			regexes = append(regexes, m.regex)
		}
	}
	for _, t := range g.c.cfg.Topics() {
		if names[t.Name] || slices.ContainsFunc(regexes, func(re *regexp.Regexp) bool { return re.MatchString(t.Name) }) {
			out[t.ID] = t
		}
	}
	return out
}

// subscribes reports whether m subscribes to t.
func (m *consumerMember) subscribes(t TopicMeta) bool {
	_, byName := slices.BinarySearch(m.subscribedNames, t.Name)
	return byName || m.regex != nil && m.regex.MatchString(t.Name)
}

// preferredAssignor is the server assignor most members ask for (Kafka's
// ConsumerGroup.computePreferredServerAssignor), uniform on a tie.
func (cg *consumerGroup) preferredAssignor() string {
	votes := map[string]int{}
	for _, m := range cg.members {
		votes[m.assignor]++
	}
	if votes[RangeAssignor] > votes[UniformAssignor] {
		return RangeAssignor
	}
	return UniformAssignor
}

// reconcile moves m towards its target, as Kafka's CurrentAssignmentBuilder.
// owned is what the member reported owning, nil when it did not say.
func (g *Group) reconcile(m *consumerMember, owned Assignment) {
	cg := g.consumer
	if owned != nil && len(m.revoking) > 0 {
		// Partitions no longer reported are released.
		still := intersect(m.revoking, owned)
		cg.removeOwners(m.id, subtract(m.revoking, still))
		m.revoking = still
	}
	switch m.state {
	case memberStable:
		if m.epoch == cg.targetEpoch {
			return
		}
		g.nextAssignment(m, m.epoch, owned)
	case memberUnrevoked:
		if ownsAny(owned, m.revoking) {
			return
		}
		// Everything asked for is revoked: the member moves to the next
		// epoch and on towards the latest target.
		g.nextAssignment(m, m.epoch+1, owned)
	case memberUnreleased:
		g.nextAssignment(m, m.epoch, owned)
	}
}

// nextAssignment is CurrentAssignmentBuilder.computeNextAssignment: keep what
// the target still gives m, revoke the rest first, then take newly targeted
// partitions as their previous owners free them.
func (g *Group) nextAssignment(m *consumerMember, epoch int32, owned Assignment) {
	cg := g.consumer
	keep := intersect(m.assigned, m.target)
	revoke := subtract(m.assigned, m.target)
	add := Assignment{}
	unreleased := false
	for id, parts := range subtract(m.target, m.assigned) {
		for _, p := range parts {
			if o, held := cg.owners[id][p]; held && o.member != m.id {
				unreleased = true
				continue
			}
			add[id] = append(add[id], p)
		}
	}
	// The member's previous entries are replaced below.
	cg.removeOwners(m.id, m.assigned)
	cg.removeOwners(m.id, m.revoking)
	switch {
	case ownsAny(owned, revoke):
		m.state = memberUnrevoked
		m.prevEpoch, m.epoch = m.epoch, epoch
		m.assigned, m.revoking = keep, revoke
	case len(add) > 0:
		m.state = memberStable
		if unreleased {
			m.state = memberUnreleased
		}
		m.prevEpoch, m.epoch = m.epoch, cg.targetEpoch
		m.assigned, m.revoking = union(keep, add), nil
	default:
		m.state = memberStable
		if unreleased {
			m.state = memberUnreleased
		}
		m.prevEpoch, m.epoch = m.epoch, cg.targetEpoch
		m.assigned, m.revoking = keep, nil
	}
	cg.addOwners(m.id, m.assigned, m.epoch)
	cg.addOwners(m.id, m.revoking, m.epoch)
	m.noteAssignedAt()
}

// noteAssignedAt records the epoch at which each newly assigned partition was
// given; partitions kept keep theirs.
func (m *consumerMember) noteAssignedAt() {
	at := make(map[TopicID]map[int32]int32, len(m.assigned))
	for id, parts := range m.assigned {
		at[id] = make(map[int32]int32, len(parts))
		for _, p := range parts {
			e, ok := m.assignedAt[id][p]
			if !ok {
				e = m.epoch
			}
			at[id][p] = e
		}
	}
	m.assignedAt = at
}

func (cg *consumerGroup) addOwners(member string, a Assignment, epoch int32) {
	for id, parts := range a {
		ps := cg.owners[id]
		if ps == nil {
			ps = map[int32]partitionOwner{}
			cg.owners[id] = ps
		}
		for _, p := range parts {
			ps[p] = partitionOwner{member: member, epoch: epoch}
		}
	}
}

// removeOwners frees partitions of a, but only those member holds.
func (cg *consumerGroup) removeOwners(member string, a Assignment) {
	for id, parts := range a {
		ps := cg.owners[id]
		for _, p := range parts {
			if o, ok := ps[p]; ok && o.member == member {
				delete(ps, p)
			}
		}
		if len(ps) == 0 {
			delete(cg.owners, id)
		}
	}
}

// state is the group's state as ConsumerGroupDescribe and ListGroups name it.
func (cg *consumerGroup) state() State {
	switch {
	case len(cg.members) == 0:
		return Empty
	case cg.targetEpoch != cg.epoch:
		return Assigning
	}
	for _, m := range cg.members {
		if m.epoch != staticLeaveEpoch && (m.state != memberStable || m.epoch != cg.targetEpoch) {
			return Reconciling
		}
	}
	return Stable
}

// checkCommit is ConsumerGroup.validateOffsetCommit, with KIP-1251's
// relaxation: a member one or more epochs behind may still commit partitions
// it held since before that epoch.
func (cg *consumerGroup) checkCommit(req CommitRequest) (PartitionCheck, error) {
	if req.Generation < 0 && len(cg.members) == 0 {
		return nil, nil // an admin or standalone consumer's commit
	}
	m, ok := cg.members[req.MemberID]
	if !ok {
		return nil, ErrUnknownMember
	}
	if !req.MemberEpochs {
		return nil, fmt.Errorf("%w: members of consumer-protocol groups commit with OffsetCommit v9 or later", ErrUnsupportedCommitVersion)
	}
	switch {
	case req.Generation == m.epoch:
		return nil, nil
	case req.Generation > m.epoch || req.Generation < 0:
		return nil, fmt.Errorf("%w: commit at epoch %d, member %s is at %d", ErrStaleMemberEpoch, req.Generation, m.id, m.epoch)
	}
	at := m.assignedAt
	epoch := req.Generation
	return func(topic TopicID, partition int32) error {
		if e, ok := at[topic][partition]; ok && e <= epoch {
			return nil
		}
		return fmt.Errorf("%w: partition %d not held at epoch %d", ErrStaleMemberEpoch, partition, epoch)
	}, nil
}

// checkFetch is ConsumerGroup.validateOffsetFetch.
func (cg *consumerGroup) checkFetch(memberID string, memberEpoch int32) error {
	if memberID == "" && memberEpoch < 0 {
		return nil
	}
	m, ok := cg.members[memberID]
	if !ok {
		return ErrUnknownMember
	}
	if memberEpoch != m.epoch {
		return fmt.Errorf("%w: fetch at epoch %d, member %s is at %d", ErrStaleMemberEpoch, memberEpoch, m.id, m.epoch)
	}
	return nil
}

// ConsumerDescription is a consumer-protocol group as ConsumerGroupDescribe
// shows it.
type ConsumerDescription struct {
	State                  State
	Epoch, AssignmentEpoch int32
	Assignor               string
	Members                []ConsumerMemberDescription
	// Topics names the topics of every assignment.
	Topics map[TopicID]string
	// Subscribed is the names of every topic some member subscribes to and
	// that exists.
	Subscribed []string
}

// ConsumerMemberDescription is one member of a ConsumerDescription.
type ConsumerMemberDescription struct {
	MemberID, InstanceID, RackID, ClientID, ClientHost string
	MemberEpoch                                        int32
	SubscribedTopicNames                               []string
	SubscribedTopicRegex                               string
	Assignment, TargetAssignment                       Assignment
}

// ConsumerDescribe returns a consumer-protocol group, or ok=false when this
// gateway has no group of that name or it is a classic one.
func (c *Coordinator) ConsumerDescribe(ctx context.Context, group string) (ConsumerDescription, bool, error) {
	g, err := c.get(ctx, group, false)
	if err != nil || g == nil {
		return ConsumerDescription{}, false, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	cg := g.consumer
	if cg == nil || g.state == Dead {
		return ConsumerDescription{}, false, nil
	}
	g.refreshTargetIfStale(false)
	d := ConsumerDescription{State: cg.state(), Epoch: cg.epoch, AssignmentEpoch: cg.targetEpoch, Assignor: cg.assignor, Topics: map[TopicID]string{}}
	for id, t := range cg.topics {
		d.Subscribed = append(d.Subscribed, t.Name)
		d.Topics[id] = t.Name
	}
	slices.Sort(d.Subscribed)
	for _, id := range slices.Sorted(maps.Keys(cg.members)) {
		m := cg.members[id]
		d.Members = append(d.Members, ConsumerMemberDescription{
			MemberID: m.id, InstanceID: m.instanceID, RackID: m.rackID, ClientID: m.clientID, ClientHost: m.clientHost,
			MemberEpoch: m.epoch, SubscribedTopicNames: slices.Clone(m.subscribedNames), SubscribedTopicRegex: m.regexSource,
			Assignment: cloneAssignment(m.assigned), TargetAssignment: cloneAssignment(m.target),
		})
	}
	return d, true, nil
}

func cloneAssignment(a Assignment) Assignment {
	if a == nil {
		return nil
	}
	out := make(Assignment, len(a))
	for id, parts := range a {
		out[id] = slices.Clone(parts)
	}
	return out
}

func countAssignment(a Assignment) int {
	n := 0
	for _, parts := range a {
		n += len(parts)
	}
	return n
}

func assignmentEqual(a, b Assignment) bool {
	return countAssignment(a) == countAssignment(b) && len(subtract(a, b)) == 0
}

// The set operations below rely on every partition list being sorted and
// free of duplicates, which normalize ensures for what members send.

// normalize sorts and dedups every partition list of a, dropping empty ones.
func normalize(a Assignment) Assignment {
	if a == nil {
		return nil
	}
	out := make(Assignment, len(a))
	for id, parts := range a {
		parts = slices.Compact(slices.Sorted(slices.Values(parts)))
		if len(parts) > 0 {
			out[id] = parts
		}
	}
	return out
}

// intersect returns the partitions in both a and b.
func intersect(a, b Assignment) Assignment {
	out := Assignment{}
	for id, x := range a {
		y := b[id]
		var both []int32
		for i, j := 0, 0; i < len(x) && j < len(y); {
			switch {
			case x[i] < y[j]:
				i++
			case x[i] > y[j]:
				j++
			default:
				both = append(both, x[i])
				i++
				j++
			}
		}
		if len(both) > 0 {
			out[id] = both
		}
	}
	return out
}

// subtract returns the partitions of a not in b.
func subtract(a, b Assignment) Assignment {
	out := Assignment{}
	for id, x := range a {
		y := b[id]
		var rest []int32
		j := 0
		for _, p := range x {
			for j < len(y) && y[j] < p {
				j++
			}
			if j == len(y) || y[j] != p {
				rest = append(rest, p)
			}
		}
		if len(rest) > 0 {
			out[id] = rest
		}
	}
	return out
}

// union returns the partitions in a or b.
func union(a, b Assignment) Assignment {
	out := cloneAssignment(a)
	if out == nil {
		out = Assignment{}
	}
	for id, parts := range subtract(b, a) {
		out[id] = slices.Sorted(slices.Values(append(out[id], parts...)))
	}
	return out
}

// contains reports whether every partition of sub is in a.
func contains(a, sub Assignment) bool {
	return len(subtract(sub, a)) == 0
}

// ownsAny reports whether owned holds any partition of a; an owned set that
// was not sent (nil) is taken to hold them all, as Kafka does.
func ownsAny(owned, a Assignment) bool {
	if owned == nil {
		return countAssignment(a) > 0
	}
	return countAssignment(intersect(a, owned)) > 0
}
