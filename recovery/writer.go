package recovery

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/segment"
)

// Source is what a Snapshotter reads of the coordinator.
type Source interface {
	// Topics returns every topic (a gateway's watched table).
	Topics() []coordinator.Topic
	// ReadPartition returns a partition's committed state without side
	// effects on the gateway's own commits, reusing and filling known
	// (immutable index chunks by key).
	ReadPartition(ctx context.Context, tp index.TopicPartition, known map[string][]segment.IndexEntry) (index.Partition, uint64, error)
	// AllOffsets returns every group's committed offsets.
	AllOffsets(ctx context.Context) ([]coordinator.GroupOffsets, error)
	// NextProducerID returns the producer id counter.
	NextProducerID(ctx context.Context) (int64, error)
	// Txns returns every transactional id's record.
	Txns(ctx context.Context) (map[string]coordinator.TxnRecord, error)
}

// schemaSource is the optional capability of a Source to list the schema
// registry's records.
type schemaSource interface {
	SchemaRecords(ctx context.Context) (map[string][]byte, error)
}

// securitySource is the optional capability of a Source to list the SASL
// users', ACLs' and quotas' records.
type securitySource interface {
	SecurityRecords(ctx context.Context) (map[string]map[string][]byte, error)
}

const (
	// DefaultKeep is how many snapshots a Snapshotter keeps by default.
	DefaultKeep = 5
)

// SnapshotConfig configures a Snapshotter. Bucket and Source are required.
type SnapshotConfig struct {
	Bucket objstore.Bucket
	Source Source
	// ClusterID and NodeID go into every snapshot; NodeID also into its key.
	ClusterID string
	NodeID    string
	// Interval is how often a snapshot is taken; 0 turns snapshots off.
	Interval time.Duration
	// Keep is how many of the newest snapshots are kept; older ones are
	// deleted after each new one. Default DefaultKeep.
	Keep int
	// Owner reports whether this gateway writes snapshots now (one gateway
	// at a time, by placement); nil: always.
	Owner func() bool
	// Ready, if set, is closed once Source.Topics is complete; no snapshot
	// is taken before.
	Ready <-chan struct{}
	// Now returns the current time. Default time.Now.
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Snapshotter writes a metadata snapshot every Interval while it is the
// owner. Its chunk cache is owned by the goroutine running Run (or Take's
// caller: Take must not be called concurrently with itself or Run).
type Snapshotter struct {
	cfg     SnapshotConfig
	metrics *metrics
	// chunks caches index chunks by key between snapshots; a pass drops
	// the ones no partition referenced.
	chunks map[string][]segment.IndexEntry
}

// NewSnapshotter returns a Snapshotter.
func NewSnapshotter(cfg SnapshotConfig) (*Snapshotter, error) {
	if cfg.Bucket == nil || cfg.Source == nil {
		return nil, errors.New("recovery: SnapshotConfig.Bucket and Source are required")
	}
	if cfg.Interval < 0 {
		return nil, errors.New("recovery: negative snapshot interval")
	}
	if cfg.Keep <= 0 {
		cfg.Keep = DefaultKeep
	}
	if cfg.Owner == nil {
		cfg.Owner = func() bool { return true }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.NodeID == "" {
		cfg.NodeID = "0"
	}
	return &Snapshotter{cfg: cfg, metrics: newMetrics(cfg.Registerer), chunks: map[string][]segment.IndexEntry{}}, nil
}

// Run takes a snapshot every Interval while this gateway is the owner, until
// ctx ends; it returns nil then, or at once when Interval is 0. A failed
// snapshot is logged and tried again at the next tick.
func (s *Snapshotter) Run(ctx context.Context) error {
	if s.cfg.Interval == 0 {
		return nil
	}
	if s.cfg.Ready != nil {
		select {
		case <-ctx.Done():
			return nil
		case <-s.cfg.Ready:
		}
	}
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if !s.cfg.Owner() {
			continue
		}
		start := time.Now()
		key, err := s.Take(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.metrics.failures.Inc()
			s.cfg.Logger.Warn("metadata snapshot", "err", err)
			continue
		}
		s.metrics.seconds.Observe(time.Since(start).Seconds())
		s.cfg.Logger.Debug("metadata snapshot written", "object", key, "seconds", time.Since(start).Seconds())
	}
}

// Take writes one snapshot now, deletes the snapshots beyond the newest
// Keep, and returns the new snapshot's key.
func (s *Snapshotter) Take(ctx context.Context) (string, error) {
	now := s.cfg.Now()
	snap, err := s.read(ctx, now)
	if err != nil {
		return "", err
	}
	data, err := Encode(snap)
	if err != nil {
		return "", err
	}
	key := snapshotKey(now, s.cfg.NodeID)
	if err := s.cfg.Bucket.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		return "", fmt.Errorf("put snapshot %s: %w", key, err)
	}
	s.metrics.written.Inc()
	s.metrics.lastSuccess.Set(float64(s.cfg.Now().UnixNano()) / 1e9)
	s.metrics.bytes.Set(float64(len(data)))
	if err := s.prune(ctx); err != nil {
		s.cfg.Logger.Warn("delete old metadata snapshots", "err", err)
	}
	return key, nil
}

// read gathers the snapshot: topics and partition states first, then
// offsets, transactional ids and the producer id counter.
func (s *Snapshotter) read(ctx context.Context, now time.Time) (*Snapshot, error) {
	src := s.cfg.Source
	snap := &Snapshot{ClusterID: s.cfg.ClusterID, NodeID: s.cfg.NodeID, TakenMs: now.UnixMilli()}
	// Partitions are read one after another: a snapshot is background
	// work, and chunks cached from the last pass make most reads one head.
	known := s.chunks
	used := map[string][]segment.IndexEntry{}
	for _, t := range src.Topics() {
		ts := TopicState{Name: t.Name, ID: hex.EncodeToString(t.ID[:]), Partitions: t.Partitions,
			Configs: t.Configs, CreatedMs: t.CreatedMs, States: make([]PartitionState, t.Partitions)}
		for p := range t.Partitions {
			tp := index.TopicPartition{TopicID: t.ID, Partition: p}
			st, _, err := src.ReadPartition(ctx, tp, known)
			if err != nil {
				return nil, fmt.Errorf("topic %q partition %d: %w", t.Name, p, err)
			}
			for _, c := range st.Chunks {
				used[c.Key] = known[c.Key]
			}
			entries := st.Entries
			st.Entries, st.Chunks, st.WALSeq = nil, nil, 0
			ts.States[p] = PartitionState{Partition: p, State: st, Entries: entries}
		}
		snap.Topics = append(snap.Topics, ts)
	}
	s.chunks = used
	var err error
	if snap.Offsets, err = src.AllOffsets(ctx); err != nil {
		return nil, err
	}
	txns, err := src.Txns(ctx)
	if err != nil {
		return nil, err
	}
	if len(txns) > 0 {
		snap.Txns = make(map[string][]byte, len(txns))
		for id, r := range txns {
			snap.Txns[id] = r.Data
		}
	}
	if ss, ok := src.(schemaSource); ok {
		if snap.Schemas, err = ss.SchemaRecords(ctx); err != nil {
			return nil, err
		}
	}
	if ss, ok := src.(securitySource); ok {
		if snap.Security, err = ss.SecurityRecords(ctx); err != nil {
			return nil, err
		}
	}
	// Read last: every id a partition state above names was allocated
	// before this read.
	if snap.NextProducerID, err = src.NextProducerID(ctx); err != nil {
		return nil, err
	}
	return snap, nil
}

// prune deletes all but the newest Keep snapshots.
func (s *Snapshotter) prune(ctx context.Context) error {
	keys, err := ListSnapshots(ctx, s.cfg.Bucket)
	if err != nil {
		return err
	}
	for len(keys) > s.cfg.Keep {
		if err := s.cfg.Bucket.Delete(ctx, keys[0]); err != nil {
			return fmt.Errorf("delete snapshot %s: %w", keys[0], err)
		}
		keys = keys[1:]
	}
	return nil
}
