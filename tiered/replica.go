package tiered

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/stratalog/strata/tiered/batch"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/wal"
)

// Replica reads serve a partition this log does not lead (KIP-392 follower
// fetching): every acknowledged record is in the WAL tail or committed to the
// index with its segment in the object store, so any gateway can read up to
// the high watermark without claiming the partition. The committed state is
// reread when its revision moved, and the WAL tail when its last sequence
// moved, checked at most every ReplicaRefresh; a replica therefore lags its
// leader by up to that much.

// DefaultReplicaRefresh is Config.ReplicaRefresh's default.
const DefaultReplicaRefresh = 250 * time.Millisecond

// replica is a partition read as a follower. mu guards its fields.
type replica struct {
	mu        sync.Mutex
	committed index.Partition
	rev       uint64
	checkedAt time.Time
	// tail holds the WAL's batches read through sequence walSeq, from the
	// committed high watermark on.
	tail   []tailBatch
	walSeq uint64
	// walWriter is the chain tail and walSeq are of ("": the partition's
	// own subject).
	walWriter string
}

// replicaState returns what tp held as of at most ReplicaRefresh ago.
func (l *Log) replicaState(ctx context.Context, tp index.TopicPartition) (snapshot, error) {
	l.mu.Lock()
	r, ok := l.replicas[tp]
	if !ok {
		r = &replica{}
		l.replicas[tp] = r
	}
	l.mu.Unlock()

	r.mu.Lock()
	defer r.mu.Unlock()
	now := l.cfg.Now()
	if r.rev != 0 && now.Sub(r.checkedAt) < l.cfg.ReplicaRefresh {
		return r.snapshot(), nil
	}
	rev, err := l.cfg.Index.PartitionRevision(ctx, tp)
	if err != nil {
		return snapshot{}, err
	}
	if rev != r.rev {
		st, rev, err := l.cfg.Index.LoadPartition(ctx, tp)
		if err != nil {
			return snapshot{}, err
		}
		r.committed, r.rev = st, rev
	}
	if l.cfg.WAL != nil {
		if err := r.refreshTail(ctx, l.cfg.WAL, tp); err != nil {
			return snapshot{}, err
		}
	}
	r.checkedAt = now
	return r.snapshot(), nil
}

// refreshTail reads the WAL messages appended since the last refresh and
// drops batches the index now covers: from the partition's own subject, or
// from the writer chain the index names (chain.go). The caller holds r.mu.
func (r *replica) refreshTail(ctx context.Context, w WAL, tp index.TopicPartition) error {
	wp := walPartition(tp)
	writer := r.committed.WALWriter
	if writer != r.walWriter {
		// The tail moved to another chain: read it afresh there.
		r.tail, r.walSeq, r.walWriter = nil, 0, writer
	}
	var last uint64
	var err error
	if writer == "" {
		last, err = w.LastSeq(ctx, wp)
	} else {
		last, err = w.ChainLastSeq(ctx, writer, wp)
	}
	if err != nil {
		return err
	}
	if last < r.walSeq || (len(r.tail) > 0 && r.tail[0].h.BaseOffset > r.committed.HighWatermark) {
		// The stream was recreated, or a flush and purge happened between
		// two refreshes past what this replica had read: read it afresh.
		r.tail, r.walSeq = nil, 0
	}
	if r.walSeq < r.committed.WALSeq && last >= r.committed.WALSeq {
		// Everything through the index's WAL sequence is in segments.
		r.tail, r.walSeq = nil, r.committed.WALSeq
	}
	if last != r.walSeq {
		hw := r.committed.HighWatermark
		add := func(rec wal.Record) error {
			if rec.LastOffset < hw {
				return nil
			}
			return batch.Each(rec.Data, func(b []byte, h batch.Header) error {
				r.tail = append(r.tail, tailBatch{data: b, h: h})
				return nil
			})
		}
		if writer == "" {
			r.walSeq, err = w.Replay(ctx, wp, r.walSeq, func(_ uint64, rec wal.Record) error { return add(rec) })
		} else {
			// A chain holds every partition of its writer's shard: this
			// read passes over the others' records.
			r.walSeq, err = w.ReplayChainThrough(ctx, writer, w.Shard(wp), r.walSeq, last, func(_ uint64, e wal.Entry) error {
				if e.Partition != wp {
					return nil
				}
				return add(e.Record)
			})
		}
		if err != nil {
			r.tail, r.walSeq = nil, 0
			return err
		}
	}
	i := 0
	for i < len(r.tail) && r.tail[i].h.LastOffset() < r.committed.HighWatermark {
		i++
	}
	r.tail = r.tail[i:]
	return nil
}

// snapshot is what a replica read sees: the committed state and the tail
// batches that continue it without a gap, with the transaction state after
// them. The caller holds r.mu.
func (r *replica) snapshot() snapshot {
	s := snapshot{committed: r.committed, highWatermark: r.committed.HighWatermark}
	open := maps.Clone(r.committed.OpenTxns)
	if open == nil {
		open = map[int64]int64{}
	}
	s.aborted = slices.Clip(r.committed.Aborted)
	for _, tb := range r.tail {
		if tb.h.LastOffset() < s.highWatermark {
			continue
		}
		if tb.h.BaseOffset != s.highWatermark {
			break
		}
		s.tail = append(s.tail, tb)
		s.highWatermark = tb.h.LastOffset() + 1
		s.aborted = applyTxn(open, s.aborted, tb.data, tb.h)
	}
	s.lastStable = lastStable(open, s.highWatermark)
	return s
}

// ReadReplica is Read for a partition this log does not lead.
func (l *Log) ReadReplica(ctx context.Context, tp index.TopicPartition, offset int64, maxBytes int, iso Isolation) (ReadResult, error) {
	s, err := l.replicaState(ctx, tp)
	if err != nil {
		return ReadResult{}, err
	}
	return l.readState(ctx, tp, s, offset, maxBytes, iso == ReadCommitted)
}

// ReplicaOffsets is Offsets for a partition this log does not lead.
func (l *Log) ReplicaOffsets(ctx context.Context, tp index.TopicPartition) (Offsets, error) {
	s, err := l.replicaState(ctx, tp)
	return s.offsets(), err
}

// WatchReplica is Watch for a partition this log does not lead: a replica
// hears of no commits, so the channel closes after ReplicaRefresh, when a
// read may see new ones.
func (l *Log) WatchReplica(context.Context, index.TopicPartition) (<-chan struct{}, error) {
	ch := make(chan struct{})
	time.AfterFunc(l.cfg.ReplicaRefresh, func() { close(ch) })
	return ch, nil
}
