package group

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/stratalog/strata/coordinator"
)

// Membership is kept in the coordinator store (GroupStore) as well as in
// memory, so that a gateway that restarts, or in time another gateway, takes a
// group over where it was: members keep their ids, generations or epochs and
// assignments, and carry on without a rebalance.
//
// What is written, and when, follows from what members are told: state is
// written before any answer that depends on it goes out.
//   - A classic group is written when it becomes Stable (the leader's
//     assignment is in) and when a static member is replaced; a rebalance in
//     progress is not, so a gateway taking over mid-rebalance resumes from the
//     last Stable generation and members still in the rebalance rejoin
//     (ILLEGAL_GENERATION). An empty group's records are deleted.
//   - A consumer-protocol group is written after every heartbeat that changed
//     a member (its epoch, assignment, revocations, subscription) and after
//     every target recomputation, so the partitions a member was told it owns
//     or must revoke are on record before it hears of them.
// A write that fails makes this gateway drop the group from memory and answer
// COORDINATOR_NOT_AVAILABLE; the next request reloads the stored state.

// GroupStore keeps groups' membership; coordinator.Store implements it.
type GroupStore interface {
	LoadGroup(ctx context.Context, group string) (coordinator.GroupState, error)
	SaveGroupMeta(ctx context.Context, group string, meta []byte, prevRevision uint64) (uint64, error)
	SaveGroupMember(ctx context.Context, group, member string, data []byte) error
	DeleteGroupMember(ctx context.Context, group, member string) error
	DeleteGroup(ctx context.Context, group string, prevRevision uint64) error
}

// persistTimeout bounds the writes a timer (session expiry) makes, which have
// no request context.
const persistTimeout = 10 * time.Second

const recordVersion = 1

type metaRecord struct {
	Version int    `json:"v"`
	Type    string `json:"type"`
	// Classic groups.
	Generation   int32    `json:"generation,omitempty"`
	ProtocolType string   `json:"protocol_type,omitempty"`
	Protocol     string   `json:"protocol,omitempty"`
	Leader       string   `json:"leader,omitempty"`
	Order        []string `json:"order,omitempty"`
	// Consumer-protocol groups.
	Epoch    int32  `json:"epoch,omitempty"`
	Assignor string `json:"assignor,omitempty"`
}

type memberRecord struct {
	InstanceID         string `json:"instance_id,omitempty"`
	ClientID           string `json:"client_id,omitempty"`
	ClientHost         string `json:"client_host,omitempty"`
	RebalanceTimeoutMs int64  `json:"rebalance_timeout_ms"`
	// Classic members.
	SessionTimeoutMs int64      `json:"session_timeout_ms,omitempty"`
	Protocols        []Protocol `json:"protocols,omitempty"`
	Assignment       []byte     `json:"assignment,omitempty"`
	// Consumer-protocol members. Topic ids are hex in the maps' keys.
	RackID          string                     `json:"rack_id,omitempty"`
	SubscribedNames []string                   `json:"subscribed,omitempty"`
	Regex           string                     `json:"regex,omitempty"`
	Assignor        string                     `json:"assignor,omitempty"`
	Epoch           int32                      `json:"epoch,omitempty"`
	PrevEpoch       int32                      `json:"prev_epoch,omitempty"`
	State           memberState                `json:"state,omitempty"`
	Assigned        map[string][]int32         `json:"assigned,omitempty"`
	Revoking        map[string][]int32         `json:"revoking,omitempty"`
	Target          map[string][]int32         `json:"target,omitempty"`
	AssignedAt      map[string]map[int32]int32 `json:"assigned_at,omitempty"`
}

func encodeAssignment(a Assignment) map[string][]int32 {
	if len(a) == 0 {
		return nil
	}
	out := make(map[string][]int32, len(a))
	for id, parts := range a {
		out[hex.EncodeToString(id[:])] = parts
	}
	return out
}

func decodeTopicID(s string) (TopicID, error) {
	var id TopicID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("bad topic id %q", s)
	}
	copy(id[:], b)
	return id, nil
}

func decodeAssignment(m map[string][]int32) (Assignment, error) {
	out := make(Assignment, len(m))
	for k, parts := range m {
		id, err := decodeTopicID(k)
		if err != nil {
			return nil, err
		}
		out[id] = parts
	}
	return normalize(out), nil
}

func (g *Group) metaRecord() metaRecord {
	if cg := g.consumer; cg != nil {
		return metaRecord{Version: recordVersion, Type: ConsumerType, Epoch: cg.epoch, Assignor: cg.assignor}
	}
	return metaRecord{Version: recordVersion, Type: ClassicType, Generation: g.generation, ProtocolType: g.protocolType,
		Protocol: g.protocol, Leader: g.leader, Order: g.order}
}

func (m *member) record() memberRecord {
	return memberRecord{InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost,
		RebalanceTimeoutMs: m.rebalanceTimeout.Milliseconds(), SessionTimeoutMs: m.sessionTimeout.Milliseconds(),
		Protocols: m.protocols, Assignment: m.assignment}
}

func (m *consumerMember) record() memberRecord {
	r := memberRecord{InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost,
		RebalanceTimeoutMs: m.rebalanceTimeout.Milliseconds(), RackID: m.rackID, SubscribedNames: m.subscribedNames,
		Regex: m.regexSource, Assignor: m.assignor, Epoch: m.epoch, PrevEpoch: m.prevEpoch, State: m.state,
		Assigned: encodeAssignment(m.assigned), Revoking: encodeAssignment(m.revoking), Target: encodeAssignment(m.target)}
	if len(m.assignedAt) > 0 {
		r.AssignedAt = make(map[string]map[int32]int32, len(m.assignedAt))
		for id, at := range m.assignedAt {
			r.AssignedAt[hex.EncodeToString(id[:])] = at
		}
	}
	return r
}

// memberIDs returns the ids of the group's current members.
func (g *Group) memberIDs() []string {
	if cg := g.consumer; cg != nil {
		return slices.Collect(maps.Keys(cg.members))
	}
	return slices.Collect(maps.Keys(g.members))
}

func (g *Group) memberRecord(id string) (memberRecord, bool) {
	if cg := g.consumer; cg != nil {
		m, ok := cg.members[id]
		if !ok {
			return memberRecord{}, false
		}
		return m.record(), true
	}
	m, ok := g.members[id]
	if !ok {
		return memberRecord{}, false
	}
	return m.record(), true
}

// markDirty notes members whose stored record may be stale; all marks every
// member (and finds removed ones by comparing with what is stored).
func (g *Group) markDirty(ids ...string) {
	if g.dirty == nil {
		g.dirty = map[string]bool{}
	}
	for _, id := range ids {
		g.dirty[id] = true
	}
}

func (g *Group) markAllDirty() { g.dirtyAll = true }

// persist writes what changed since the last write: the meta record by
// compare-and-swap, then changed member records, then deletes those of
// members gone. On failure the group is abandoned (see abandon) and the
// error, wrapping ErrNotPersisted, is returned.
func (g *Group) persist(ctx context.Context) error {
	store := g.c.cfg.Store
	if store == nil {
		g.dirty, g.dirtyAll = nil, false
		return nil
	}
	err := g.write(ctx, store)
	g.dirty, g.dirtyAll = nil, false
	if err != nil {
		g.c.cfg.Logger.Warn("group state not persisted; dropping the group from memory", "group", g.id, "err", err)
		g.abandon()
		return fmt.Errorf("%w: %w", ErrNotPersisted, err)
	}
	return nil
}

func (g *Group) write(ctx context.Context, store GroupStore) error {
	ids := g.memberIDs()
	if len(ids) == 0 {
		if g.rev == 0 && len(g.saved) == 0 {
			return nil
		}
		if err := store.DeleteGroup(ctx, g.id, g.rev); err != nil {
			return err
		}
		g.rev, g.savedMeta, g.saved = 0, nil, nil
		return nil
	}
	dirty := slices.Collect(maps.Keys(g.dirty))
	if g.dirtyAll {
		dirty = append(ids, slices.Collect(maps.Keys(g.saved))...)
	}
	slices.Sort(dirty)
	dirty = slices.Compact(dirty)

	meta, err := json.Marshal(g.metaRecord())
	if err != nil {
		return err
	}
	type change struct {
		id   string
		data []byte // nil: delete
	}
	var changes []change
	for _, id := range dirty {
		r, ok := g.memberRecord(id)
		if !ok {
			if _, stored := g.saved[id]; stored {
				changes = append(changes, change{id: id})
			}
			continue
		}
		data, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if !bytes.Equal(data, g.saved[id]) {
			changes = append(changes, change{id, data})
		}
	}
	if len(changes) == 0 && bytes.Equal(meta, g.savedMeta) {
		return nil
	}
	// The meta write comes first and is a compare-and-swap even when the
	// meta is unchanged: a gateway that lost the group fails here, before
	// touching member records.
	rev, err := store.SaveGroupMeta(ctx, g.id, meta, g.rev)
	if err != nil {
		return err
	}
	g.rev, g.savedMeta = rev, meta
	if g.saved == nil {
		g.saved = map[string][]byte{}
	}
	for _, c := range changes {
		if c.data == nil {
			if err := store.DeleteGroupMember(ctx, g.id, c.id); err != nil {
				return err
			}
			delete(g.saved, c.id)
			continue
		}
		if err := store.SaveGroupMember(ctx, g.id, c.id, c.data); err != nil {
			return err
		}
		g.saved[c.id] = c.data
	}
	return nil
}

// abandon drops the group from memory after a failed write: timers stop,
// waiting requests are answered, and the next request reloads what is
// stored.
func (g *Group) abandon() { g.forget(ErrNotPersisted) }

// forget drops the group from memory: timers stop, waiting requests are
// answered with err, and the next request reloads what is stored.
func (g *Group) forget(err error) {
	for _, m := range g.members {
		m.release(err)
	}
	if g.rebalance != nil {
		g.rebalance.Stop()
	}
	if cg := g.consumer; cg != nil {
		for _, m := range cg.members {
			stopTimer(&m.session)
			stopTimer(&m.revocation)
		}
	}
	g.state = Dead
	g.c.mu.Lock()
	if g.c.groups[g.id] == g {
		delete(g.c.groups, g.id)
	}
	g.c.mu.Unlock()
}

// restore rebuilds a group from its stored state. Timers are armed by
// resume, once the group is the one in the Coordinator's map.
func (g *Group) restore(st coordinator.GroupState) error {
	var meta metaRecord
	if err := json.Unmarshal(st.Meta, &meta); err != nil {
		return fmt.Errorf("group %q meta: %w", g.id, err)
	}
	if meta.Version != recordVersion {
		return fmt.Errorf("group %q meta: unsupported version %d", g.id, meta.Version)
	}
	records := make(map[string]memberRecord, len(st.Members))
	for id, data := range st.Members {
		var r memberRecord
		if err := json.Unmarshal(data, &r); err != nil {
			return fmt.Errorf("group %q member %s: %w", g.id, id, err)
		}
		records[id] = r
	}
	g.rev, g.savedMeta, g.saved = st.Revision, st.Meta, st.Members
	if meta.Type == ConsumerType {
		return g.restoreConsumer(meta, records)
	}
	g.generation, g.protocolType, g.protocol, g.leader = meta.Generation, meta.ProtocolType, meta.Protocol, meta.Leader
	for _, id := range meta.Order {
		r, ok := records[id]
		if !ok {
			continue
		}
		g.members[id] = &member{id: id, instanceID: r.InstanceID, clientID: r.ClientID, clientHost: r.ClientHost,
			protocols: r.Protocols, assignment: r.Assignment,
			sessionTimeout: time.Duration(r.SessionTimeoutMs) * time.Millisecond, rebalanceTimeout: time.Duration(r.RebalanceTimeoutMs) * time.Millisecond}
		g.order = append(g.order, id)
		if r.InstanceID != "" {
			g.static[r.InstanceID] = id
		}
	}
	if len(g.members) > 0 {
		g.state = Stable
	}
	return nil
}

func (g *Group) restoreConsumer(meta metaRecord, records map[string]memberRecord) error {
	cg := newConsumerGroup()
	cg.epoch, cg.targetEpoch, cg.assignor = meta.Epoch, meta.Epoch, meta.Assignor
	for id, r := range records {
		m := &consumerMember{id: id, instanceID: r.InstanceID, rackID: r.RackID, clientID: r.ClientID, clientHost: r.ClientHost,
			rebalanceTimeout: time.Duration(r.RebalanceTimeoutMs) * time.Millisecond, subscribedNames: r.SubscribedNames,
			regexSource: r.Regex, assignor: r.Assignor, epoch: r.Epoch, prevEpoch: r.PrevEpoch, state: r.State}
		if m.regexSource != "" {
			re, err := compileTopicRegex(m.regexSource)
			if err != nil {
				return fmt.Errorf("group %q member %s: %w", g.id, id, err)
			}
			m.regex = re
		}
		var err error
		if m.assigned, err = decodeAssignment(r.Assigned); err != nil {
			return err
		}
		if m.revoking, err = decodeAssignment(r.Revoking); err != nil {
			return err
		}
		if m.target, err = decodeAssignment(r.Target); err != nil {
			return err
		}
		m.assignedAt = make(map[TopicID]map[int32]int32, len(r.AssignedAt))
		for k, at := range r.AssignedAt {
			tid, err := decodeTopicID(k)
			if err != nil {
				return err
			}
			m.assignedAt[tid] = at
		}
		cg.members[id] = m
		if m.instanceID != "" {
			cg.static[m.instanceID] = id
		}
		cg.addOwners(id, m.assigned, m.epoch)
		cg.addOwners(id, m.revoking, m.epoch)
	}
	g.consumer = cg
	return nil
}

// resume arms the timers of a restored group: every member gets a full
// session from now.
func (g *Group) resume() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range g.members {
		g.touch(m)
	}
	if cg := g.consumer; cg != nil {
		for _, m := range cg.members {
			g.touchConsumer(m)
			g.armRevocation(m)
		}
	}
}

// load returns the group id from the store, or nil when none is stored.
func (c *Coordinator) load(ctx context.Context, id string) (*Group, error) {
	if c.cfg.Store == nil {
		return nil, nil
	}
	st, err := c.cfg.Store.LoadGroup(ctx, id)
	if err != nil || st.Revision == 0 {
		return nil, err
	}
	g := c.newGroup(id)
	if err := g.restore(st); err != nil {
		return nil, errors.Join(ErrNotPersisted, err)
	}
	return g, nil
}

// persistNow persists with its own deadline, for changes made by timers and
// for a classic group that just lost its last member. A failure abandons the
// group, whose next request reloads the last stored state.
func (g *Group) persistNow() {
	ctx, cancel := timerContext()
	defer cancel()
	_ = g.persist(ctx)
}

// ReleaseUnless forgets every group for which keep is false (this gateway no
// longer coordinates it); its waiting requests get ErrNotCoordinator, and the
// gateway that coordinates it now loads it from the store.
func (c *Coordinator) ReleaseUnless(keep func(group string) bool) {
	c.mu.Lock()
	var gone []*Group
	for id, g := range c.groups {
		if !keep(id) {
			gone = append(gone, g)
		}
	}
	// Another gateway may have written any group meanwhile.
	clear(c.absent)
	c.mu.Unlock()
	for _, g := range gone {
		g.mu.Lock()
		g.forget(ErrNotCoordinator)
		g.mu.Unlock()
	}
}

// timerContext is the context of writes a timer makes.
func timerContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), persistTimeout)
}
