package coordinator

// What the metadata snapshot (package recovery) reads of the coordinator, and
// what `strata recover --from-bucket` writes into an empty one. Reads here
// never touch the head cache (headcache.go): a snapshot taken on a gateway
// must not make its next flush commit hash its chunks again. Restores are
// creates (kv.Create), so they never overwrite anything a gateway wrote.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/segment"
)

// ReadPartition returns tp's committed state like LoadPartition, without
// remembering it in the head cache, and reuses the entries of chunks found in
// known (chunk key to entries; chunks are immutable, so a cached chunk is
// never stale). It adds the chunks it read to known when known is not nil.
// A partition with no state returns a zero Partition and revision 0.
func (s *Store) ReadPartition(ctx context.Context, tp index.TopicPartition, known map[string][]segment.IndexEntry) (index.Partition, uint64, error) {
	key := partitionKey(tp)
	e, err := s.partitions.Get(ctx, key)
	if isNotFound(err) {
		return index.Partition{}, 0, nil
	}
	if err != nil {
		return index.Partition{}, 0, fmt.Errorf("read partition %s: %w", key, err)
	}
	head, err := decodeHead(tp, e.Value())
	if err != nil {
		return index.Partition{}, 0, corruptf("partition record %s: %v", key, err)
	}
	p := head.Partition
	for _, c := range p.Chunks {
		entries, ok := known[c.Key]
		if !ok {
			if entries, err = s.loadChunk(ctx, tp, c); err != nil {
				return index.Partition{}, 0, fmt.Errorf("read partition %s: %w", key, err)
			}
			if known != nil {
				known[c.Key] = entries
			}
		}
		p.Entries = append(p.Entries, entries...)
	}
	p.Entries = append(p.Entries, head.Tail...)
	return p, e.Revision(), nil
}

// GroupOffsets is one consumer group's committed offsets for one topic.
type GroupOffsets struct {
	Group      string                    `json:"group"`
	Topic      string                    `json:"topic"`
	Partitions map[int32]CommittedOffset `json:"partitions"`
}

// AllOffsets returns every group's committed offsets, read in one pass over
// the offsets bucket (see listEntries); records written meanwhile may or may
// not be in it. A topic's shards (see offsetsRecord) come back as one
// GroupOffsets. The result is ordered by group and topic key.
func (s *Store) AllOffsets(ctx context.Context) ([]GroupOffsets, error) {
	entries, err := s.listEntries(ctx, s.offsets, nil, false)
	if err != nil {
		return nil, fmt.Errorf("list committed offsets: %w", err)
	}
	type groupTopic struct{ group, topic string }
	var order []groupTopic
	firsts := map[groupTopic]offsetsRecord{}
	others := map[groupTopic]map[int32]map[int32]CommittedOffset{}
	for _, key := range slices.Sorted(maps.Keys(entries)) {
		e := entries[key]
		encGroup, rest, _ := strings.Cut(e.Key(), ".")
		encTopic, encShard, sharded := strings.Cut(rest, ".")
		group, gerr := topicName(encGroup)
		topic, terr := topicName(encTopic)
		shard, serr := strconv.ParseInt(encShard, 10, 32)
		if gerr != nil || terr != nil || sharded && (serr != nil || shard <= 0) {
			return nil, corruptf("offsets key %q", e.Key())
		}
		var rec offsetsRecord
		if err := json.Unmarshal(e.Value(), &rec); err != nil {
			return nil, corruptf("offsets %s: %v", e.Key(), err)
		}
		gt := groupTopic{group, topic}
		if !sharded {
			order = append(order, gt)
			firsts[gt] = rec
			continue
		}
		if others[gt] == nil {
			others[gt] = map[int32]map[int32]CommittedOffset{}
		}
		others[gt][int32(shard)] = rec.Partitions
	}
	// Only the shards shard 0 lists count; a partition's own shard wins.
	out := make([]GroupOffsets, 0, len(order))
	for _, gt := range order {
		first := firsts[gt]
		parts := first.Partitions
		for _, k := range first.Shards {
			if parts == nil {
				parts = map[int32]CommittedOffset{}
			}
			maps.Copy(parts, others[gt][k])
		}
		out = append(out, GroupOffsets{Group: gt.group, Topic: gt.topic, Partitions: parts})
	}
	return out, nil
}

// NextProducerID returns the next producer id the counter would hand out
// (FirstProducerID when none was ever allocated).
func (s *Store) NextProducerID(ctx context.Context) (int64, error) {
	e, err := s.counters.Get(ctx, producerIDKey)
	switch {
	case isNotFound(err):
		return FirstProducerID, nil
	case err != nil:
		return 0, fmt.Errorf("read counter %s: %w", producerIDKey, err)
	}
	var r counterRecord
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return 0, corruptf("counter %s: %v", producerIDKey, err)
	}
	return r.Next, nil
}

// RaiseProducerID moves the producer id counter up to next, so that no id
// below next is handed out again; a counter already at or above next is left
// as it is. It is a compare-and-swap like every allocation.
func (s *Store) RaiseProducerID(ctx context.Context, next int64) error {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	return retryCAS(ctx, func() error {
		cur, err := s.NextProducerID(ctx)
		if err != nil {
			return err
		}
		if cur >= next {
			return nil
		}
		_, err = s.tryAllocate(ctx, producerIDKey, FirstProducerID, next-cur)
		return err
	})
}

// RestoreClusterID sets the cluster id of a fresh store to id, so that
// clients see the cluster they knew; it returns the id the store holds,
// which is another when one was already set.
func (s *Store) RestoreClusterID(ctx context.Context, id string) (string, error) {
	if id == "" {
		return s.ClusterID(ctx)
	}
	_, err := s.counters.Create(ctx, clusterIDKey, []byte(id))
	if err != nil && !isCASMismatch(err) {
		return "", fmt.Errorf("restore cluster id: %w", err)
	}
	return s.ClusterID(ctx)
}

// HoldsMetadata reports whether the store holds any topic, partition state,
// committed offset or transactional id: what a recovery into it would
// collide with.
func (s *Store) HoldsMetadata(ctx context.Context) (bool, error) {
	for _, kv := range []jetstream.KeyValue{s.topics, s.partitions, s.offsets, s.txns} {
		keys, err := s.listKeys(ctx, kv, ">")
		if err != nil {
			return false, err
		}
		if len(keys) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// SchemaRecords returns every record of the schema registry's bucket by key,
// read in one pass, for a snapshot: the registry's records are opaque here
// and restored as they are (SchemaKV.Put with revision 0).
func (s *Store) SchemaRecords(ctx context.Context) (map[string][]byte, error) {
	return s.bucketRecords(ctx, s.schemas)
}

// securityBuckets names the buckets of the security records a snapshot
// carries, by the name a snapshot gives them.
func (s *Store) securityBuckets() map[string]jetstream.KeyValue {
	return map[string]jetstream.KeyValue{"users": s.users, "acls": s.acls, "quotas": s.quotas}
}

// SecurityRecords returns the records of the SASL users, ACL and quota
// buckets, by bucket ("users", "acls", "quotas") and key, for a snapshot.
// Users' records hold salted SCRAM credentials, never passwords.
func (s *Store) SecurityRecords(ctx context.Context) (map[string]map[string][]byte, error) {
	out := map[string]map[string][]byte{}
	for name, kv := range s.securityBuckets() {
		recs, err := s.bucketRecords(ctx, kv)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(recs) > 0 {
			out[name] = recs
		}
	}
	return out, nil
}

// RestoreSecurityRecord writes a record SecurityRecords returned into an
// empty bucket; a key that exists already is left as it is.
func (s *Store) RestoreSecurityRecord(ctx context.Context, bucket, key string, value []byte) error {
	kv, ok := s.securityBuckets()[bucket]
	if !ok {
		return fmt.Errorf("restore %s record %q: no such bucket", bucket, key)
	}
	if _, err := kv.Create(ctx, key, value); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("restore %s record %q: %w", bucket, key, err)
	}
	return nil
}
