package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
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

// offsetsRecord is the value of one offsets key: a group's committed offsets
// for the partitions of one topic in one shard.
//
// Shards: partition p is kept in shard p/offsetsShardSize, so that a topic of
// 10,000 or 100,000 partitions does not need one record larger than
// RecordLimit (an entry is about 60 bytes of JSON). Shard 0's key is
// "<group>.<topic>", the key of the single record that versions before
// sharding wrote for all of a topic's partitions, so a topic under
// offsetsShardSize partitions is stored exactly as before. Shard k > 0 is
// "<group>.<topic>.<k>". Shard 0's record lists in Shards the other shards
// that may exist, so a reader finds them without listing keys.
//
// Rules that keep every acknowledged commit visible:
//   - A commit writes shard k > 0 first, then makes sure shard 0 lists k; when
//     it created shard k's record it writes shard 0 even if k is already
//     listed, so that a concurrent expiry that saw no shard k and is about to
//     delete an empty shard 0 loses its compare-and-swap.
//   - Shard 0 is deleted only when it holds no partition and none of the
//     shards it lists exists, checked inside its compare-and-swap loop.
//   - Deleting a group's or a topic's offsets deletes the other shards before
//     shard 0, so a crash never leaves an unlisted shard whose old offsets a
//     later commit would bring back.
//   - Shard 0 may still hold entries of partitions >= offsetsShardSize written
//     before sharding; a partition's entry in its own shard wins over one
//     there. Deletes and expiry remove both.
type offsetsRecord struct {
	Partitions map[int32]CommittedOffset `json:"partitions"`
	Shards     []int32                   `json:"shards,omitempty"`
}

// offsetsShardSize is how many partitions one offsets record holds.
const offsetsShardSize = 1024

// offsetsShard is the shard of partition p; negative partitions, which no
// topic has, go to shard 0.
func offsetsShard(p int32) int32 { return max(p, 0) / offsetsShardSize }

// offsetsKey is "<group>.<topic>", each encoded as topicKey does, so neither
// can contain the separator: the key of shard 0.
func offsetsKey(group, topic string) string { return topicKey(group) + "." + topicKey(topic) }

// offsetsShardKey is the key of one shard of the group's offsets for topic.
func offsetsShardKey(group, topic string, shard int32) string {
	if shard == 0 {
		return offsetsKey(group, topic)
	}
	return offsetsKey(group, topic) + "." + strconv.Itoa(int(shard))
}

// CommitOffsets merges offsets into the group's committed offsets for topic,
// by compare-and-swap on each shard's revision: one per offsetsShardSize
// partitions committed, plus shard 0's. A commit that returns nil is durable
// in the coordinator and survives any gateway. One that fails may have
// stored the offsets of some shards; committing them again is harmless.
//
// Errors: ErrTooLarge when a shard's record would exceed RecordLimit (long
// offset metadata on many partitions); ErrConflict (wrapped) after losing
// maxCASAttempts races in a row.
func (s *Store) CommitOffsets(ctx context.Context, group, topic string, offsets map[int32]CommittedOffset) error {
	if group == "" {
		return fmt.Errorf("commit offsets: empty group id: %w", ErrInvalidTopic)
	}
	byShard := map[int32]map[int32]CommittedOffset{}
	for p, c := range offsets {
		k := offsetsShard(p)
		if byShard[k] == nil {
			byShard[k] = map[int32]CommittedOffset{}
		}
		byShard[k][p] = c
	}
	shards := slices.Sorted(maps.Keys(byShard))
	others := slices.DeleteFunc(slices.Clone(shards), func(k int32) bool { return k == 0 })
	created := false
	for _, k := range others {
		c, err := s.commitShard(ctx, offsetsShardKey(group, topic, k), byShard[k])
		if err != nil {
			return err
		}
		created = created || c
	}
	return s.commitShard0(ctx, offsetsKey(group, topic), byShard[0], others, created)
}

// commitShard merges offsets into the shard record at key and reports
// whether it created the record.
func (s *Store) commitShard(ctx context.Context, key string, offsets map[int32]CommittedOffset) (created bool, err error) {
	err = retryCAS(ctx, func() error {
		rec, rev, err := s.loadOffsets(ctx, key)
		if err != nil {
			return err
		}
		if rec.Partitions == nil {
			rec.Partitions = make(map[int32]CommittedOffset, len(offsets))
		}
		maps.Copy(rec.Partitions, offsets)
		created = rev == 0
		return s.putOffsets(ctx, key, rec, rev)
	})
	return created, err
}

// commitShard0 merges offsets into shard 0 and lists the shards in others.
// It writes nothing when there is nothing to merge, every shard is listed,
// and touch is not set.
func (s *Store) commitShard0(ctx context.Context, key string, offsets map[int32]CommittedOffset, others []int32, touch bool) error {
	return retryCAS(ctx, func() error {
		rec, rev, err := s.loadOffsets(ctx, key)
		if err != nil {
			return err
		}
		listed := true
		for _, k := range others {
			if i, ok := slices.BinarySearch(rec.Shards, k); !ok {
				rec.Shards = slices.Insert(rec.Shards, i, k)
				listed = false
			}
		}
		if len(offsets) == 0 && listed && !touch {
			return nil
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
	byShard := map[int32][]int32{}
	for _, p := range partitions {
		if k := offsetsShard(p); k > 0 {
			byShard[k] = append(byShard[k], p)
		}
	}
	for k, parts := range byShard {
		key := offsetsShardKey(group, topic, k)
		err := retryCAS(ctx, func() error {
			rec, rev, err := s.loadOffsets(ctx, key)
			if err != nil || rev == 0 {
				return err
			}
			for _, p := range parts {
				delete(rec.Partitions, p)
			}
			return s.saveShard(ctx, key, rec, rev)
		})
		if err != nil {
			return err
		}
	}
	// Shard 0 also drops entries written there before sharding.
	key := offsetsKey(group, topic)
	return retryCAS(ctx, func() error {
		rec, rev, err := s.loadOffsets(ctx, key)
		if err != nil || rev == 0 {
			return err
		}
		for _, p := range partitions {
			delete(rec.Partitions, p)
		}
		return s.saveShard0(ctx, group, topic, rec, rev)
	})
}

// saveShard writes a shard k > 0 record at revision rev, or deletes it when
// it holds no partition (it stays listed in shard 0: readers skip it).
func (s *Store) saveShard(ctx context.Context, key string, rec offsetsRecord, rev uint64) error {
	if len(rec.Partitions) > 0 {
		return s.putOffsets(ctx, key, rec, rev)
	}
	err := s.offsets.Delete(ctx, key, jetstream.LastRevision(rev))
	if isCASMismatch(err) {
		return errCASLost
	}
	return err
}

// saveShard0 writes shard 0's record at revision rev, or deletes it when it
// holds no partition and none of the shards it lists exists.
func (s *Store) saveShard0(ctx context.Context, group, topic string, rec offsetsRecord, rev uint64) error {
	if len(rec.Partitions) == 0 {
		live, err := s.shardsLive(ctx, group, topic, rec.Shards)
		if err != nil {
			return err
		}
		if !live {
			err := s.offsets.Delete(ctx, offsetsKey(group, topic), jetstream.LastRevision(rev))
			if isCASMismatch(err) {
				return errCASLost
			}
			return err
		}
	}
	return s.putOffsets(ctx, offsetsKey(group, topic), rec, rev)
}

// shardsLive reports whether any of the group's offsets shards for topic
// exists.
func (s *Store) shardsLive(ctx context.Context, group, topic string, shards []int32) (bool, error) {
	for _, k := range shards {
		_, rev, err := s.loadOffsets(ctx, offsetsShardKey(group, topic, k))
		if err != nil || rev != 0 {
			return rev != 0, err
		}
	}
	return false, nil
}

// ExpireOffsets removes the group's committed offsets for topic that were
// committed before beforeMs (Unix milliseconds), and returns how many it
// removed. It is a compare-and-swap like every change: an offset committed
// while it runs is newer than beforeMs and stays.
func (s *Store) ExpireOffsets(ctx context.Context, group, topic string, beforeMs int64) (int, error) {
	first, _, err := s.loadOffsets(ctx, offsetsKey(group, topic))
	if err != nil {
		return 0, err
	}
	expired := 0
	// Partitions found in their own shard: an entry of theirs left in
	// shard 0 from before sharding is not counted twice.
	homed := map[int32]bool{}
	for _, k := range first.Shards {
		key := offsetsShardKey(group, topic, k)
		n := 0
		err := retryCAS(ctx, func() error {
			n = 0
			rec, rev, err := s.loadOffsets(ctx, key)
			if err != nil || rev == 0 {
				return err
			}
			for p, c := range rec.Partitions {
				homed[p] = true
				if c.CommitMs < beforeMs {
					delete(rec.Partitions, p)
					n++
				}
			}
			if n == 0 {
				return nil
			}
			return s.saveShard(ctx, key, rec, rev)
		})
		if err != nil {
			return expired, err
		}
		expired += n
	}
	n := 0
	err = retryCAS(ctx, func() error {
		n = 0
		rec, rev, err := s.loadOffsets(ctx, offsetsKey(group, topic))
		if err != nil || rev == 0 {
			return err
		}
		removed := false
		for p, c := range rec.Partitions {
			if c.CommitMs < beforeMs {
				delete(rec.Partitions, p)
				removed = true
				if !homed[p] {
					n++
				}
			}
		}
		if !removed && len(rec.Partitions) > 0 {
			return nil
		}
		if !removed {
			// Empty already: deleted once the shards it lists are.
			if live, err := s.shardsLive(ctx, group, topic, rec.Shards); err != nil || live {
				return err
			}
		}
		return s.saveShard0(ctx, group, topic, rec, rev)
	})
	return expired + n, err
}

// FetchOffsets returns the group's committed offsets for topic (nil if none),
// from shard 0 and the shards it lists.
func (s *Store) FetchOffsets(ctx context.Context, group, topic string) (map[int32]CommittedOffset, error) {
	first, _, err := s.loadOffsets(ctx, offsetsKey(group, topic))
	if err != nil {
		return nil, err
	}
	out := first.Partitions
	for _, k := range first.Shards {
		rec, _, err := s.loadOffsets(ctx, offsetsShardKey(group, topic, k))
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = make(map[int32]CommittedOffset, len(rec.Partitions))
		}
		maps.Copy(out, rec.Partitions) // a partition's own shard wins
	}
	return out, nil
}

// OffsetTopics returns the topics the group has committed offsets for: the
// keys of their shard 0 records, which every topic with offsets has.
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
	keys, err := s.offsetKeys(ctx, "*.*")
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
	return s.deleteOffsets(ctx, topicKey(group)+".>")
}

// DeleteTopicOffsets removes every group's committed offsets for the named
// topic, as Kafka does when a topic is deleted.
func (s *Store) DeleteTopicOffsets(ctx context.Context, topic string) error {
	return s.deleteOffsets(ctx, "*."+topicKey(topic), "*."+topicKey(topic)+".*")
}

// deleteOffsets removes the offsets records whose keys match any of filters:
// shards k > 0 before shard 0 (see offsetsRecord).
func (s *Store) deleteOffsets(ctx context.Context, filters ...string) error {
	keys, err := s.listKeys(ctx, s.offsets, filters...)
	if err != nil {
		return err
	}
	// Shard 0's key has two tokens, the others three.
	slices.SortStableFunc(keys, func(a, b string) int {
		return strings.Count(b, ".") - strings.Count(a, ".")
	})
	for _, k := range keys {
		if err := s.offsets.Delete(ctx, k); err != nil && !isNotFound(err) {
			return fmt.Errorf("delete offsets %s: %w", k, err)
		}
	}
	return nil
}

func (s *Store) offsetKeys(ctx context.Context, filter string) ([]string, error) {
	return s.listKeys(ctx, s.offsets, filter)
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
