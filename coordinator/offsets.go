package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// CommittedOffset is what a consumer group committed for one partition.
type CommittedOffset struct {
	Offset      int64  `json:"offset"`
	LeaderEpoch int32  `json:"leader_epoch"`
	Metadata    string `json:"metadata,omitempty"`
	CommitMs    int64  `json:"commit_ms"`
}

// offsetsRecord is the value of one (group, topic) key: the group's committed
// offsets for that topic by partition. One record per topic keeps a commit of a
// topic's partitions a single compare-and-swap, and bounds the record's size by
// the topic's partition count.
type offsetsRecord struct {
	Partitions map[int32]CommittedOffset `json:"partitions"`
}

// offsetsKey is "<group>.<topic>", each encoded as topicKey does, so neither
// can contain the separator.
func offsetsKey(group, topic string) string { return topicKey(group) + "." + topicKey(topic) }

// CommitOffsets merges offsets into the group's committed offsets for topic, by
// compare-and-swap on the record's revision. A commit that returns nil is
// durable in the coordinator and survives any gateway.
func (s *Store) CommitOffsets(ctx context.Context, group, topic string, offsets map[int32]CommittedOffset) error {
	if group == "" {
		return fmt.Errorf("commit offsets: empty group id: %w", ErrInvalidTopic)
	}
	key := offsetsKey(group, topic)
	return retryCAS(ctx, func() error {
		rec, rev, err := s.loadOffsets(ctx, key)
		if err != nil {
			return err
		}
		if rec.Partitions == nil {
			rec.Partitions = make(map[int32]CommittedOffset, len(offsets))
		}
		maps.Copy(rec.Partitions, offsets)
		return s.putOffsets(ctx, key, rec, rev)
	})
}

// DeleteOffsets removes the group's committed offsets for the given partitions
// of topic.
func (s *Store) DeleteOffsets(ctx context.Context, group, topic string, partitions []int32) error {
	key := offsetsKey(group, topic)
	return retryCAS(ctx, func() error {
		rec, rev, err := s.loadOffsets(ctx, key)
		if err != nil || rev == 0 {
			return err
		}
		for _, p := range partitions {
			delete(rec.Partitions, p)
		}
		if len(rec.Partitions) == 0 {
			err := s.offsets.Delete(ctx, key, jetstream.LastRevision(rev))
			if isCASMismatch(err) {
				return errCASLost
			}
			return err
		}
		return s.putOffsets(ctx, key, rec, rev)
	})
}

// ExpireOffsets removes the group's committed offsets for topic that were
// committed before beforeMs (Unix milliseconds), and returns how many it
// removed. It is a compare-and-swap like every change: an offset committed
// while it runs is newer than beforeMs and stays.
func (s *Store) ExpireOffsets(ctx context.Context, group, topic string, beforeMs int64) (int, error) {
	key := offsetsKey(group, topic)
	expired := 0
	err := retryCAS(ctx, func() error {
		expired = 0
		rec, rev, err := s.loadOffsets(ctx, key)
		if err != nil || rev == 0 {
			return err
		}
		for p, c := range rec.Partitions {
			if c.CommitMs < beforeMs {
				delete(rec.Partitions, p)
				expired++
			}
		}
		switch {
		case expired == 0:
			return nil
		case len(rec.Partitions) == 0:
			err := s.offsets.Delete(ctx, key, jetstream.LastRevision(rev))
			if isCASMismatch(err) {
				return errCASLost
			}
			return err
		}
		return s.putOffsets(ctx, key, rec, rev)
	})
	return expired, err
}

// FetchOffsets returns the group's committed offsets for topic (nil if none).
func (s *Store) FetchOffsets(ctx context.Context, group, topic string) (map[int32]CommittedOffset, error) {
	rec, _, err := s.loadOffsets(ctx, offsetsKey(group, topic))
	return rec.Partitions, err
}

// OffsetTopics returns the topics the group has committed offsets for.
func (s *Store) OffsetTopics(ctx context.Context, group string) ([]string, error) {
	keys, err := s.offsetKeys(ctx, topicKey(group)+".*")
	if err != nil {
		return nil, err
	}
	topics := make([]string, 0, len(keys))
	for _, k := range keys {
		_, enc, _ := strings.Cut(k, ".")
		name, err := topicName(enc)
		if err != nil {
			return nil, corruptf("offsets key %q: %v", k, err)
		}
		topics = append(topics, name)
	}
	return topics, nil
}

// OffsetGroups returns every group that has committed offsets.
func (s *Store) OffsetGroups(ctx context.Context) ([]string, error) {
	keys, err := s.offsetKeys(ctx, ">")
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool)
	var groups []string
	for _, k := range keys {
		enc, _, _ := strings.Cut(k, ".")
		if seen[enc] {
			continue
		}
		seen[enc] = true
		g, err := topicName(enc)
		if err != nil {
			return nil, corruptf("offsets key %q: %v", k, err)
		}
		groups = append(groups, g)
	}
	return groups, nil
}

// DeleteGroupOffsets removes every committed offset of the group.
func (s *Store) DeleteGroupOffsets(ctx context.Context, group string) error {
	return s.deleteOffsets(ctx, topicKey(group)+".*")
}

// DeleteTopicOffsets removes every group's committed offsets for the named
// topic, as Kafka does when a topic is deleted.
func (s *Store) DeleteTopicOffsets(ctx context.Context, topic string) error {
	return s.deleteOffsets(ctx, "*."+topicKey(topic))
}

// deleteOffsets removes the offsets records whose keys match filter.
func (s *Store) deleteOffsets(ctx context.Context, filter string) error {
	keys, err := s.offsetKeys(ctx, filter)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.offsets.Delete(ctx, k); err != nil && !isNotFound(err) {
			return fmt.Errorf("delete offsets %s: %w", k, err)
		}
	}
	return nil
}

func (s *Store) offsetKeys(ctx context.Context, filter string) ([]string, error) {
	return listKeys(ctx, s.offsets, filter)
}

// listKeys returns the keys of kv matching filter; none is not an error.
func listKeys(ctx context.Context, kv jetstream.KeyValue, filter string) ([]string, error) {
	lister, err := kv.ListKeysFiltered(ctx, filter)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list keys %s of %s: %w", filter, kv.Bucket(), err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	return keys, nil
}

func (s *Store) loadOffsets(ctx context.Context, key string) (offsetsRecord, uint64, error) {
	e, err := s.offsets.Get(ctx, key)
	if isNotFound(err) {
		return offsetsRecord{}, 0, nil
	}
	if err != nil {
		return offsetsRecord{}, 0, fmt.Errorf("read offsets %s: %w", key, err)
	}
	var rec offsetsRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return offsetsRecord{}, 0, corruptf("offsets %s: %v", key, err)
	}
	return rec, e.Revision(), nil
}

func (s *Store) putOffsets(ctx context.Context, key string, rec offsetsRecord, rev uint64) error {
	data, err := s.encode(rec)
	if err != nil {
		return fmt.Errorf("encode offsets %s: %w", key, err)
	}
	if rev == 0 {
		_, err = s.offsets.Create(ctx, key, data)
	} else {
		_, err = s.offsets.Update(ctx, key, data, rev)
	}
	if isCASMismatch(err) {
		return errCASLost
	}
	if err != nil {
		return fmt.Errorf("write offsets %s: %w", key, err)
	}
	return nil
}
