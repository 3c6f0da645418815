package recovery

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/tiered/gc"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/segment"
)

const (
	// DefaultConcurrency is how many footers Rebuild reads at once.
	DefaultConcurrency = 32
	// ProducerIDMargin is added to a snapshot's producer id counter: ids
	// handed out after the snapshot are not known, and no cluster hands
	// out 2^32 in one snapshot interval (gateways allocate them in blocks).
	ProducerIDMargin = 1 << 32
	// NoSnapshotProducerID is where the counter starts when no snapshot is
	// readable: far above anything a cluster has handed out.
	NoSnapshotProducerID = 1 << 48
	// clockSkew is how far apart gateways' clocks may be: objects of a
	// topic the snapshot does not know that are older than the snapshot by
	// more than this belong to a topic deleted before it.
	clockSkew = time.Minute
	// GeneratedTopicPrefix starts the name of a topic known only from
	// segment footers (its id in hex follows).
	GeneratedTopicPrefix = "recovered-"
)

// Config configures Rebuild. Bucket and Store are required.
type Config struct {
	Bucket objstore.Bucket
	// Store is the coordinator to rebuild into; it should hold no
	// metadata (coordinator.Store.HoldsMetadata).
	Store *coordinator.Store
	// SnapshotKey names the snapshot to start from; empty: the newest one
	// that decodes.
	SnapshotKey string
	// NoSnapshot ignores every snapshot: topics are rebuilt from footers
	// alone, under generated names.
	NoSnapshot bool
	// Concurrency is how many footers are read at once. Default
	// DefaultConcurrency.
	Concurrency int
	// DryRun computes and returns the summary without writing anything.
	DryRun bool
	// Prefix is where segment objects are. Default gc.DefaultPrefix.
	Prefix string
	Logger *slog.Logger
}

// Rebuild rebuilds the coordinator's metadata from the bucket: see the
// package documentation for what it keeps and what it loses.
func Rebuild(ctx context.Context, cfg Config) (*Summary, error) {
	if cfg.Bucket == nil || (cfg.Store == nil && !cfg.DryRun) {
		return nil, errors.New("recovery: Config.Bucket and Store are required")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Prefix == "" {
		cfg.Prefix = gc.DefaultPrefix
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	sum := &Summary{}
	snap, err := chooseSnapshot(ctx, cfg, sum)
	if err != nil {
		return nil, err
	}
	objs, bad, err := listObjects(ctx, cfg.Bucket, cfg.Prefix, cfg.Concurrency)
	if err != nil {
		return nil, err
	}
	sum.Objects = len(objs)
	for k, e := range bad {
		sum.BadObjects = append(sum.BadObjects, k)
		cfg.Logger.Warn("unreadable segment object left out", "object", k, "err", e)
	}
	slices.Sort(sum.BadObjects)
	topics, deleted, err := plannedTopics(snap, objs)
	if err != nil {
		return nil, err
	}
	exists := make(map[string]*object, len(objs))
	for _, o := range objs {
		exists[o.key] = o
	}
	if err := replayStates(ctx, cfg, topics, exists); err != nil {
		return nil, err
	}
	sum.Topics, sum.DeletedTopics = topics, deleted
	sum.NextProducerID = NoSnapshotProducerID
	if snap != nil {
		sum.ClusterID = snap.ClusterID
		sum.NextProducerID = max(snap.NextProducerID, coordinator.FirstProducerID) + ProducerIDMargin
		sum.Groups = len(snap.Offsets)
		sum.Txns = len(snap.Txns)
		sum.Schemas = len(snap.Schemas)
		sum.SnapshotTaken = time.UnixMilli(snap.TakenMs)
	}
	if cfg.DryRun {
		return sum, nil
	}
	return sum, apply(ctx, cfg, snap, sum)
}

// chooseSnapshot reads the snapshot to start from: the one named, or the
// newest that decodes. It returns nil when there is none.
func chooseSnapshot(ctx context.Context, cfg Config, sum *Summary) (*Snapshot, error) {
	if cfg.NoSnapshot {
		return nil, nil
	}
	if cfg.SnapshotKey != "" {
		s, err := ReadSnapshot(ctx, cfg.Bucket, cfg.SnapshotKey)
		if err != nil {
			return nil, err
		}
		sum.Snapshot = cfg.SnapshotKey
		return s, nil
	}
	keys, err := ListSnapshots(ctx, cfg.Bucket)
	if err != nil {
		return nil, err
	}
	for i := len(keys) - 1; i >= 0; i-- {
		s, err := ReadSnapshot(ctx, cfg.Bucket, keys[i])
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			cfg.Logger.Warn("metadata snapshot unreadable, trying an older one", "object", keys[i], "err", err)
			sum.BadSnapshots = append(sum.BadSnapshots, keys[i])
			continue
		}
		sum.Snapshot = keys[i]
		return s, nil
	}
	return nil, nil
}

// plannedTopics rebuilds every topic's partitions from the snapshot and the
// objects.
func plannedTopics(snap *Snapshot, objs []*object) (out []*TopicSummary, deleted [][16]byte, err error) {
	// Blocks by partition, and whether each object exists.
	byTP := map[index.TopicPartition][]*object{}
	exists := make(map[string]*object, len(objs))
	for _, o := range objs {
		exists[o.key] = o
		seen := map[index.TopicPartition]bool{}
		for _, b := range o.blocks {
			tp := index.TopicPartition{TopicID: b.TopicID, Partition: b.Partition}
			if !seen[tp] {
				seen[tp] = true
				byTP[tp] = append(byTP[tp], o)
			}
		}
	}
	known := map[[16]byte]bool{}
	if snap != nil {
		for _, ts := range snap.Topics {
			id, err := ts.topicID()
			if err != nil {
				return nil, nil, err
			}
			known[id] = true
			t := &TopicSummary{Topic: coordinator.Topic{Name: ts.Name, ID: id, Partitions: ts.Partitions, Configs: ts.Configs, CreatedMs: ts.CreatedMs}}
			states := map[int32]PartitionState{}
			for _, ps := range ts.States {
				states[ps.Partition] = ps
			}
			t.Topic.Partitions = max(t.Topic.Partitions, maxPartition(byTP, id)+1)
			for p := range t.Topic.Partitions {
				ps, ok := states[p]
				tp := index.TopicPartition{TopicID: id, Partition: p}
				t.Parts = append(t.Parts, rebuildPartition(tp, ps, ok, byTP[tp], exists))
			}
			out = append(out, t)
		}
	}
	// Topics the snapshot does not know: created after it (or there is no
	// snapshot), or deleted before it, their objects not yet collected.
	// A topic whose every object predates the snapshot by more than
	// clockSkew was deleted: the snapshot lists every topic that existed.
	newest := map[[16]byte]time.Time{}
	for tp, holding := range byTP {
		if known[tp.TopicID] {
			continue
		}
		for _, o := range holding {
			if o.created.After(newest[tp.TopicID]) {
				newest[tp.TopicID] = o.created
			}
		}
	}
	var ids [][16]byte
	for id, t := range newest {
		if snap != nil && t.Before(time.UnixMilli(snap.TakenMs).Add(-clockSkew)) {
			deleted = append(deleted, id)
			continue
		}
		ids = append(ids, id)
	}
	slices.SortFunc(deleted, func(a, b [16]byte) int { return slices.Compare(a[:], b[:]) })
	slices.SortFunc(ids, func(a, b [16]byte) int { return slices.Compare(a[:], b[:]) })
	for _, id := range ids {
		t := &TopicSummary{Generated: true, Topic: coordinator.Topic{
			Name: GeneratedTopicPrefix + hex.EncodeToString(id[:]), ID: id, Partitions: maxPartition(byTP, id) + 1}}
		for p := range t.Topic.Partitions {
			tp := index.TopicPartition{TopicID: id, Partition: p}
			t.Parts = append(t.Parts, rebuildPartition(tp, PartitionState{}, false, byTP[tp], exists))
		}
		out = append(out, t)
	}
	return out, deleted, nil
}

// maxPartition is the highest partition of topic id with blocks, or -1.
func maxPartition(byTP map[index.TopicPartition][]*object, id [16]byte) int32 {
	m := int32(-1)
	for tp := range byTP {
		if tp.TopicID == id {
			m = max(m, tp.Partition)
		}
	}
	return m
}

// rebuildPartition plans one partition's index: the snapshot's entries whose
// objects exist, and blocks of any object, chosen by plan to cover the most
// offsets; then its offsets and the rest of its state.
func rebuildPartition(tp index.TopicPartition, ps PartitionState, inSnapshot bool, objs []*object, exists map[string]*object) *PartitionSummary {
	st := ps.State
	var lso int64
	if inSnapshot {
		lso = st.LogStartOffset
	}
	var cands []candidate
	missing := map[string]bool{}
	for _, e := range ps.Entries {
		o, ok := exists[e.Object]
		if !ok {
			missing[e.Object] = true
			continue
		}
		if e.LastOffset >= lso {
			cands = append(cands, candidate{entry: e, fromSnapshot: true, order: o.order})
		}
	}
	for _, o := range objs {
		var mine []segment.IndexEntry
		for _, b := range o.blocks {
			if b.TopicID == tp.TopicID && b.Partition == tp.Partition {
				mine = append(mine, b)
			}
		}
		for _, b := range mine {
			if b.LastOffset >= lso {
				cands = append(cands, candidate{entry: b, order: o.order})
			}
		}
		// A per-partition object (merged or compacted, or a flush of one
		// partition) may also stand as one whole entry, as the tiered
		// log's merges index it.
		if o.single && len(mine) > 1 && mine[len(mine)-1].LastOffset >= lso {
			w := mine[0]
			w.Whole = true
			w.LastOffset = mine[len(mine)-1].LastOffset
			w.Length = o.blocksEnd - w.Position
			w.Records = 0
			for _, b := range mine[1:] {
				w.MaxTimestamp = max(w.MaxTimestamp, b.MaxTimestamp)
			}
			for _, b := range mine {
				w.Records += b.Records
			}
			cands = append(cands, candidate{entry: w, order: o.order})
		}
	}
	entries := plan(cands)
	out := &PartitionSummary{Partition: tp.Partition, InSnapshot: inSnapshot, SnapshotHighWatermark: st.HighWatermark,
		MissingObjects: len(missing), Entries: len(entries)}
	hw := st.HighWatermark
	if n := len(entries); n > 0 {
		hw = max(hw, entries[n-1].LastOffset+1)
		lso = max(lso, entries[0].BaseOffset)
	} else {
		lso = hw
	}
	next := st
	next.Entries, next.Chunks, next.WALSeq = entries, nil, 0
	next.LogStartOffset, next.HighWatermark = lso, hw
	covered := int64(0)
	for _, e := range entries {
		out.Records += e.Records
		covered += e.LastOffset - max(e.BaseOffset, lso) + 1
		if e.LastOffset >= st.HighWatermark {
			out.AboveSnapshot += e.LastOffset - max(e.BaseOffset, st.HighWatermark) + 1
		}
	}
	out.Uncovered = hw - lso - covered
	out.LogStartOffset, out.HighWatermark = lso, hw
	out.state = next
	out.tp = tp
	out.write = inSnapshot && (st.HighWatermark > 0 || st.LeaderEpoch > 0) || len(entries) > 0
	return out
}

// apply writes the planned metadata into the store: the cluster id and the
// producer id counter, each partition's state, then the topics, committed
// offsets and transactional ids. Every write is a create, so a second run
// with --force keeps what the first wrote and reports the rest.
func apply(ctx context.Context, cfg Config, snap *Snapshot, sum *Summary) error {
	st := cfg.Store
	if _, err := st.RestoreClusterID(ctx, sum.ClusterID); err != nil {
		return err
	}
	if err := st.RaiseProducerID(ctx, sum.NextProducerID); err != nil {
		return fmt.Errorf("restore producer id counter: %w", err)
	}
	for _, t := range sum.Topics {
		for _, p := range t.Parts {
			if !p.write {
				continue
			}
			if _, _, err := st.CommitPartition(ctx, p.tp, p.state, 0); err != nil {
				if errors.Is(err, coordinator.ErrConflict) || errors.Is(err, coordinator.ErrFenced) {
					cfg.Logger.Warn("partition state exists; kept", "topic", t.Topic.Name, "partition", p.Partition)
					continue
				}
				return fmt.Errorf("restore topic %q partition %d: %w", t.Topic.Name, p.Partition, err)
			}
		}
		if _, err := st.CreateTopic(ctx, t.Topic); err != nil {
			if errors.Is(err, coordinator.ErrTopicExists) {
				if cur, lerr := st.LoadTopic(ctx, t.Topic.Name); lerr == nil && cur.ID != t.Topic.ID {
					// Created anew (auto-created by a client?) before the
					// recovery: the recovered partitions are under the old id.
					cfg.Logger.Error("TOPIC EXISTS WITH ANOTHER ID: its recovered records are not reachable under this name; delete the topic and run recover --force again",
						"topic", t.Topic.Name, "id", fmt.Sprintf("%x", cur.ID), "recovered_id", fmt.Sprintf("%x", t.Topic.ID))
					continue
				}
				cfg.Logger.Warn("topic exists; kept", "topic", t.Topic.Name)
				continue
			}
			return fmt.Errorf("restore topic %q: %w", t.Topic.Name, err)
		}
	}
	if snap == nil {
		return nil
	}
	for _, g := range snap.Offsets {
		if err := st.CommitOffsets(ctx, g.Group, g.Topic, g.Partitions); err != nil {
			return fmt.Errorf("restore offsets of group %q topic %q: %w", g.Group, g.Topic, err)
		}
	}
	for key, value := range snap.Schemas {
		if _, _, err := st.Schemas().Put(ctx, key, value, 0); err != nil {
			return fmt.Errorf("restore schema registry record %q: %w", key, err)
		}
	}
	for bucket, recs := range snap.Security {
		for key, value := range recs {
			if err := st.RestoreSecurityRecord(ctx, bucket, key, value); err != nil {
				return err
			}
		}
	}
	for id, data := range snap.Txns {
		if _, err := st.SaveTxn(ctx, id, data, 0); err != nil {
			if errors.Is(err, coordinator.ErrConflict) {
				continue
			}
			return fmt.Errorf("restore transactional id %q: %w", id, err)
		}
	}
	return nil
}
