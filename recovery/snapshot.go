package recovery

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/segment"
)

const (
	// SnapshotPrefix is where snapshot objects live, beside (never under)
	// the segments/ prefix that garbage collection lists.
	SnapshotPrefix = "metadata/snapshots/"
	// snapshotSuffix ends every snapshot key.
	snapshotSuffix = ".json.zst"

	// FormatVersion is the snapshot format this code writes and reads.
	FormatVersion = 1

	// maxSnapshotBytes bounds what a reader decompresses (and reads) of one
	// snapshot object, so that a corrupt or hostile object cannot exhaust
	// memory.
	maxSnapshotBytes = 4 << 30
)

// ErrCorrupt marks a snapshot object that cannot be decoded: bad zstd, bad
// JSON, a checksum mismatch or an unknown format version.
var ErrCorrupt = errors.New("recovery: corrupt metadata snapshot")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Snapshot is the coordinator's durable metadata at one moment, as a
// snapshot object holds it. Each partition's state is a committed state
// (consistent on its own); different partitions may be a few commits apart.
type Snapshot struct {
	ClusterID string `json:"cluster_id"`
	// NodeID is the gateway that wrote the snapshot.
	NodeID string `json:"node_id"`
	// TakenMs is when the writer started reading the coordinator (Unix ms).
	TakenMs int64        `json:"taken_ms"`
	Topics  []TopicState `json:"topics"`
	// Offsets are every consumer group's committed offsets.
	Offsets []coordinator.GroupOffsets `json:"offsets,omitempty"`
	// NextProducerID is the producer id counter: no id at or above it had
	// been handed out when it was read.
	NextProducerID int64 `json:"next_producer_id"`
	// Txns are the transactional ids' records (coordinator/txn's encoding),
	// by transactional id; JSON carries the bytes as base64.
	Txns map[string][]byte `json:"txns,omitempty"`
	// Schemas are the schema registry's records (subjects, schemas, ids,
	// configs, modes, in schemaregistry's encoding) by their key in the
	// registry's bucket.
	Schemas map[string][]byte `json:"schemas,omitempty"`
	// Security are the records of the SASL users (salted SCRAM
	// credentials), ACL and client quota buckets, by bucket ("users",
	// "acls", "quotas") and key, in the coordinator's encoding.
	Security map[string]map[string][]byte `json:"security,omitempty"`
}

// TopicState is one topic and its partitions' committed states.
type TopicState struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"` // 32 lower-case hex digits
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
	CreatedMs  int64             `json:"created_ms"`
	States     []PartitionState  `json:"partition_states"`
}

// PartitionState is one partition's committed state (index.Partition's JSON
// fields: leader_epoch, log_start_offset, high_watermark, producers, epochs,
// cleaned_offset, delete_horizon_ms, open_txns, aborted_txns) with its whole
// segment index in entries. Chunks and wal_seq are left out: they name
// records of the NATS that a recovery replaces.
type PartitionState struct {
	Partition int32                `json:"partition"`
	State     index.Partition      `json:"state"`
	Entries   []segment.IndexEntry `json:"entries"`
}

// envelope is what a snapshot object decompresses to: the snapshot's JSON
// bytes as they were written and their CRC-32C.
type envelope struct {
	Format   int             `json:"format"`
	CRC32C   uint32          `json:"crc32c"`
	Snapshot json.RawMessage `json:"snapshot"`
}

// topicID parses a TopicState's id.
func (t TopicState) topicID() ([16]byte, error) {
	var id [16]byte
	b, err := hex.DecodeString(t.ID)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("%w: topic %q has id %q", ErrCorrupt, t.Name, t.ID)
	}
	copy(id[:], b)
	return id, nil
}

// Encode returns the snapshot object's bytes: zstd (with its content
// checksum) over {"format":1,"crc32c":...,"snapshot":{...}}.
func Encode(s *Snapshot) ([]byte, error) {
	body, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode snapshot: %w", err)
	}
	env, err := json.Marshal(envelope{Format: FormatVersion, CRC32C: crc32.Checksum(body, castagnoli), Snapshot: body})
	if err != nil {
		return nil, fmt.Errorf("encode snapshot: %w", err)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	return enc.EncodeAll(env, nil), nil
}

// Decode parses a snapshot object's bytes. Anything wrong wraps ErrCorrupt.
func Decode(data []byte) (*Snapshot, error) {
	dec, err := zstd.NewReader(bytes.NewReader(data), zstd.WithDecoderMaxMemory(maxSnapshotBytes))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	defer dec.Close()
	raw, err := io.ReadAll(io.LimitReader(dec, maxSnapshotBytes))
	if err != nil {
		return nil, fmt.Errorf("%w: decompress: %v", ErrCorrupt, err)
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if env.Format != FormatVersion {
		return nil, fmt.Errorf("%w: format version %d, this strata reads %d", ErrCorrupt, env.Format, FormatVersion)
	}
	if got := crc32.Checksum(env.Snapshot, castagnoli); got != env.CRC32C {
		return nil, fmt.Errorf("%w: checksum %08x, stored %08x", ErrCorrupt, got, env.CRC32C)
	}
	var s Snapshot
	if err := json.Unmarshal(env.Snapshot, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return &s, nil
}

// snapshotKey names a snapshot taken at t by node: the 20-digit Unix
// nanoseconds first, so that keys sort by time.
func snapshotKey(t time.Time, node string) string {
	return fmt.Sprintf("%s%020d-%s%s", SnapshotPrefix, t.UnixNano(), node, snapshotSuffix)
}

// SnapshotTime returns when the snapshot at key was taken, from its name.
func SnapshotTime(key string) (time.Time, bool) {
	base := path.Base(key)
	if !strings.HasPrefix(key, SnapshotPrefix) || !strings.HasSuffix(base, snapshotSuffix) {
		return time.Time{}, false
	}
	ns, _, ok := strings.Cut(base, "-")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(0, n), true
}

// ListSnapshots returns the keys of the snapshot objects in b, oldest first.
func ListSnapshots(ctx context.Context, b objstore.Bucket) ([]string, error) {
	var keys []string
	err := b.List(ctx, SnapshotPrefix, func(key string) error {
		if _, ok := SnapshotTime(key); ok {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list metadata snapshots: %w", err)
	}
	slices.SortFunc(keys, func(a, b string) int { return strings.Compare(path.Base(a), path.Base(b)) })
	return keys, nil
}

// ReadSnapshot reads and decodes the snapshot object at key.
func ReadSnapshot(ctx context.Context, b objstore.Bucket, key string) (*Snapshot, error) {
	rc, err := b.GetRange(ctx, key, 0, -1)
	if err != nil {
		return nil, fmt.Errorf("read snapshot %s: %w", key, err)
	}
	data, err := io.ReadAll(io.LimitReader(rc, maxSnapshotBytes))
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("read snapshot %s: %w", key, err)
	}
	s, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", key, err)
	}
	return s, nil
}
