package coordinator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stratalog/strata/tiered/index"
)

// Topic is a topic's metadata.
type Topic struct {
	// Name is the Kafka topic name.
	Name string
	// ID is the topic id (KIP-516): random, never zero, never reused.
	// Partition state is keyed by it, so a topic deleted and created again
	// under the same name starts empty.
	ID [16]byte
	// Partitions is the number of partitions, at least one. It only grows.
	Partitions int32
	// Configs holds only the topic configs set explicitly, by their Kafka
	// names; defaults are not stored. Nil when none are set.
	Configs map[string]string
	// CreatedMs is the creation time in Unix milliseconds.
	CreatedMs int64
}

// Partition names partition p of t, or reports false when t has no such
// partition. The zero Topic, which lookups of unknown names return, has none.
func (t Topic) Partition(p int32) (index.TopicPartition, bool) {
	if p < 0 || p >= t.Partitions {
		return index.TopicPartition{}, false
	}
	return index.TopicPartition{TopicID: t.ID, Partition: p}, true
}

// clone returns a copy of t that shares no map with it.
func (t Topic) clone() Topic {
	t.Configs = cloneConfigs(t.Configs)
	return t
}

func cloneConfigs(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

// topicRecord is a topic's value in the topics bucket.
type topicRecord struct {
	Version    int               `json:"v"`
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
	CreatedMs  int64             `json:"created_ms"`
}

// topicRecordVersion is the current topicRecord format.
const topicRecordVersion = 1

func encodeTopic(s *Store, t Topic) ([]byte, error) {
	data, err := s.encode(topicRecord{
		Version:    topicRecordVersion,
		Name:       t.Name,
		ID:         hex.EncodeToString(t.ID[:]),
		Partitions: t.Partitions,
		Configs:    t.Configs,
		CreatedMs:  t.CreatedMs,
	})
	if err != nil {
		return nil, fmt.Errorf("encode topic record: %w", err)
	}
	return data, nil
}

func decodeTopic(key string, data []byte) (Topic, error) {
	var r topicRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return Topic{}, corruptf("topic record %q: %v", key, err)
	}
	if r.Version != topicRecordVersion {
		return Topic{}, corruptf("topic record %q: unsupported version %d", key, r.Version)
	}
	t := Topic{Name: r.Name, Partitions: r.Partitions, Configs: cloneConfigs(r.Configs), CreatedMs: r.CreatedMs}
	id, err := hex.DecodeString(r.ID)
	if err != nil || len(id) != len(t.ID) {
		return Topic{}, corruptf("topic record %q: bad id %q", key, r.ID)
	}
	copy(t.ID[:], id)
	if name, err := topicName(key); err != nil || name != t.Name {
		return Topic{}, corruptf("topic record %q holds topic %q", key, t.Name)
	}
	return t, nil
}

// newTopicID returns a random version 4 UUID. Like Kafka's
// org.apache.kafka.common.Uuid.randomUuid it skips ids whose base64 form
// starts with '-' (they look like command-line flags); the version bits keep
// it from ever being the reserved zero or metadata-topic (1) id.
func newTopicID() [16]byte {
	for {
		var id [16]byte
		rand.Read(id[:]) // never fails (crypto/rand docs)
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
		// URL-safe base64's first character is '-' when the top six
		// bits are 62.
		if id[0]>>2 != 62 {
			return id
		}
	}
}

// CreateTopic creates t. A zero t.ID gets a random one and a zero t.CreatedMs
// the current time. It returns the topic as stored, and applies it to this
// Store's topic table at once.
//
// Errors: ErrInvalidTopic for a name Kafka would refuse, ErrInvalidPartitions
// for fewer than one partition, ErrTopicExists when the name is taken,
// ErrTooLarge for configs too big for one record.
func (s *Store) CreateTopic(ctx context.Context, t Topic) (Topic, error) {
	if err := validateTopicName(t.Name); err != nil {
		return Topic{}, fmt.Errorf("create topic: %w", err)
	}
	if t.Partitions < 1 {
		return Topic{}, fmt.Errorf("create topic %q with %d partitions: %w", t.Name, t.Partitions, ErrInvalidPartitions)
	}
	t = t.clone()
	if t.ID == ([16]byte{}) {
		t.ID = newTopicID()
	}
	if t.CreatedMs == 0 {
		t.CreatedMs = time.Now().UnixMilli()
	}
	data, err := encodeTopic(s, t)
	if err != nil {
		return Topic{}, fmt.Errorf("create topic %q: %w", t.Name, err)
	}
	rev, err := s.topics.Create(ctx, topicKey(t.Name), data)
	if err != nil {
		if isCASMismatch(err) {
			return Topic{}, fmt.Errorf("create topic %q: %w", t.Name, ErrTopicExists)
		}
		return Topic{}, fmt.Errorf("create topic %q: %w", t.Name, err)
	}
	s.table.applyLocal(t.Name, t, rev, false)
	return t.clone(), nil
}

// getTopic reads a topic from the stream leader, returning ErrUnknownTopic
// when it does not exist.
func (s *Store) getTopic(ctx context.Context, name string) (Topic, uint64, error) {
	if err := validateTopicName(name); err != nil {
		return Topic{}, 0, fmt.Errorf("%w: %w", ErrUnknownTopic, err)
	}
	key := topicKey(name)
	e, err := s.topics.Get(ctx, key)
	if isNotFound(err) {
		return Topic{}, 0, ErrUnknownTopic
	}
	if err != nil {
		return Topic{}, 0, fmt.Errorf("read: %w", err)
	}
	t, err := decodeTopic(key, e.Value())
	if err != nil {
		return Topic{}, 0, err
	}
	return t, e.Revision(), nil
}

// DeleteTopic deletes the named topic and returns it as it was. It removes
// the topic from this Store's table at once.
//
// Errors: ErrUnknownTopic when no such topic exists; ErrConflict (wrapped)
// when the topic kept changing under it.
func (s *Store) DeleteTopic(ctx context.Context, name string) (Topic, error) {
	var deleted Topic
	err := retryCAS(ctx, func() error {
		t, rev, err := s.getTopic(ctx, name)
		if err != nil {
			return err
		}
		err = s.topics.Delete(ctx, topicKey(name), jetstream.LastRevision(rev))
		if isCASMismatch(err) {
			return errCASLost
		}
		if err != nil {
			return fmt.Errorf("write delete marker: %w", err)
		}
		// The delete marker's revision is not returned, but it is the
		// next write to the key after rev.
		s.table.applyLocal(name, t, rev, true)
		deleted = t
		return nil
	})
	if err != nil {
		return Topic{}, fmt.Errorf("delete topic %q: %w", name, err)
	}
	// The partition heads and chunks of deleted.ID stay behind until
	// garbage collection (tiered/gc) removes them and their objects.
	return deleted, nil
}

// UpdateTopic changes the named topic by read-modify-CAS: it reads the
// topic, calls fn on a copy, and writes the result only if nobody wrote the
// topic in between, calling fn again on the new value otherwise. fn may thus
// run more than once and must only change *Topic. It may change Configs and
// raise Partitions; an error from fn aborts the update and is returned
// wrapped. If fn changes nothing, nothing is written. The topic as stored is
// returned and applied to this Store's table at once.
//
// Errors: ErrUnknownTopic; ErrInvalidPartitions when fn lowers Partitions;
// ErrInvalidTopic when fn changes Name, ID or CreatedMs; ErrConflict
// (wrapped) after losing maxCASAttempts races in a row.
func (s *Store) UpdateTopic(ctx context.Context, name string, fn func(*Topic) error) (Topic, error) {
	var updated Topic
	err := retryCAS(ctx, func() error {
		old, rev, err := s.getTopic(ctx, name)
		if err != nil {
			return err
		}
		t := old.clone()
		if err := fn(&t); err != nil {
			return err
		}
		t.Configs = cloneConfigs(t.Configs)
		if err := checkTopicUpdate(old, t); err != nil {
			return err
		}
		if topicsEqual(old, t) {
			s.table.applyLocal(name, old, rev, false)
			updated = old
			return nil
		}
		data, err := encodeTopic(s, t)
		if err != nil {
			return err
		}
		newRev, err := s.topics.Update(ctx, topicKey(name), data, rev)
		if isCASMismatch(err) {
			return errCASLost
		}
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		s.table.applyLocal(name, t, newRev, false)
		updated = t
		return nil
	})
	if err != nil {
		return Topic{}, fmt.Errorf("update topic %q: %w", name, err)
	}
	return updated.clone(), nil
}

// checkTopicUpdate refuses changes UpdateTopic does not allow.
func checkTopicUpdate(old, t Topic) error {
	if t.Name != old.Name || t.ID != old.ID || t.CreatedMs != old.CreatedMs {
		return fmt.Errorf("name, id and creation time cannot change: %w", ErrInvalidTopic)
	}
	if t.Partitions < old.Partitions {
		return fmt.Errorf("partitions %d -> %d: only increases are allowed: %w", old.Partitions, t.Partitions, ErrInvalidPartitions)
	}
	return nil
}

func topicsEqual(a, b Topic) bool {
	return a.Name == b.Name && a.ID == b.ID && a.Partitions == b.Partitions &&
		a.CreatedMs == b.CreatedMs && maps.Equal(a.Configs, b.Configs)
}
