package coordinator

import (
	"context"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// Consumer group membership, as coordinator/group encodes it, lives in the
// groups bucket so that a restarted (or, later, another) gateway can take a
// group over without a rebalance. Each group has a meta record, key
// "<group>", and one record per member, key "<group>.<member>" (each part
// encoded as topicKey does). The records are opaque here.
//
// The meta record is written by compare-and-swap on its revision: a gateway
// that lost the group to another gateway fails its next write. Member
// records are written by the gateway holding the group, after a meta write
// on the revision it holds or on their own.

// GroupState is a group's stored membership.
type GroupState struct {
	Meta     []byte
	Revision uint64
	// Members holds each member's record by member id.
	Members map[string][]byte
}

func groupMetaKey(group string) string           { return topicKey(group) }
func groupMemberKey(group, member string) string { return topicKey(group) + "." + topicKey(member) }

// LoadGroup returns the stored membership of group; Revision is 0 when there
// is none.
func (s *Store) LoadGroup(ctx context.Context, group string) (GroupState, error) {
	var st GroupState
	e, err := s.groups.Get(ctx, groupMetaKey(group))
	switch {
	case isNotFound(err):
		return st, nil
	case err != nil:
		return st, fmt.Errorf("load group %q: %w", group, err)
	}
	st.Meta, st.Revision = e.Value(), e.Revision()
	keys, err := s.groupMemberKeys(ctx, group)
	if err != nil {
		return GroupState{}, err
	}
	st.Members = make(map[string][]byte, len(keys))
	for _, k := range keys {
		e, err := s.groups.Get(ctx, k)
		if isNotFound(err) {
			continue // removed since the listing
		}
		if err != nil {
			return GroupState{}, fmt.Errorf("load group %q: member %s: %w", group, k, err)
		}
		_, enc, _ := strings.Cut(k, ".")
		member, err := topicName(enc)
		if err != nil {
			return GroupState{}, corruptf("group member key %q: %v", k, err)
		}
		st.Members[member] = e.Value()
	}
	return st, nil
}

// SaveGroupMeta writes group's meta record on prevRevision (0: create) and
// returns the new revision; ErrConflict when the record moved on.
func (s *Store) SaveGroupMeta(ctx context.Context, group string, meta []byte, prevRevision uint64) (uint64, error) {
	if len(meta) > s.recordLimit {
		return 0, fmt.Errorf("save group %q: meta of %d bytes: %w", group, len(meta), ErrTooLarge)
	}
	var rev uint64
	var err error
	if prevRevision == 0 {
		rev, err = s.groups.Create(ctx, groupMetaKey(group), meta)
	} else {
		rev, err = s.groups.Update(ctx, groupMetaKey(group), meta, prevRevision)
	}
	if isCASMismatch(err) {
		return 0, fmt.Errorf("save group %q on revision %d: %w", group, prevRevision, ErrConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("save group %q: %w", group, err)
	}
	return rev, nil
}

// SaveGroupMember writes one member's record.
func (s *Store) SaveGroupMember(ctx context.Context, group, member string, data []byte) error {
	if len(data) > s.recordLimit {
		return fmt.Errorf("save group %q member %s: %d bytes: %w", group, member, len(data), ErrTooLarge)
	}
	if _, err := s.groups.Put(ctx, groupMemberKey(group, member), data); err != nil {
		return fmt.Errorf("save group %q member %s: %w", group, member, err)
	}
	return nil
}

// DeleteGroupMember removes one member's record.
func (s *Store) DeleteGroupMember(ctx context.Context, group, member string) error {
	if err := s.groups.Delete(ctx, groupMemberKey(group, member)); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete group %q member %s: %w", group, member, err)
	}
	return nil
}

// DeleteGroup removes group's membership: its members' records, then its
// meta record on prevRevision (ErrConflict when that moved on).
func (s *Store) DeleteGroup(ctx context.Context, group string, prevRevision uint64) error {
	keys, err := s.groupMemberKeys(ctx, group)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.groups.Delete(ctx, k); err != nil && !isNotFound(err) {
			return fmt.Errorf("delete group %q: member %s: %w", group, k, err)
		}
	}
	if prevRevision == 0 {
		return nil
	}
	err = s.groups.Delete(ctx, groupMetaKey(group), jetstream.LastRevision(prevRevision))
	switch {
	case isCASMismatch(err):
		return fmt.Errorf("delete group %q on revision %d: %w", group, prevRevision, ErrConflict)
	case err != nil && !isNotFound(err):
		return fmt.Errorf("delete group %q: %w", group, err)
	}
	return nil
}

func (s *Store) groupMemberKeys(ctx context.Context, group string) ([]string, error) {
	return s.listKeys(ctx, s.groups, topicKey(group)+".*")
}
