package tiered

import (
	"context"
	"sync"
	"time"

	"github.com/stratalog/strata/tiered/index"
)

// Replica reads serve a partition this log does not lead (KIP-392 follower
// fetching): every acknowledged record is committed to the index and its
// segment is in the object store, so any gateway can read up to the
// committed high watermark without claiming the partition. The committed
// state is reread when its revision moved, checked at most every
// ReplicaRefresh; a replica therefore lags its leader by up to that much.

// DefaultReplicaRefresh is Config.ReplicaRefresh's default.
const DefaultReplicaRefresh = 250 * time.Millisecond

// replica is a partition read as a follower. mu guards its fields.
type replica struct {
	mu        sync.Mutex
	committed index.Partition
	rev       uint64
	checkedAt time.Time
}

// replicaState returns tp's committed state as of at most ReplicaRefresh ago.
func (l *Log) replicaState(ctx context.Context, tp index.TopicPartition) (index.Partition, error) {
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
		return r.committed, nil
	}
	rev, err := l.cfg.Index.PartitionRevision(ctx, tp)
	if err != nil {
		return index.Partition{}, err
	}
	if rev != r.rev {
		st, rev, err := l.cfg.Index.LoadPartition(ctx, tp)
		if err != nil {
			return index.Partition{}, err
		}
		r.committed, r.rev = st, rev
	}
	r.checkedAt = now
	return r.committed, nil
}

// ReadReplica is Read for a partition this log does not lead.
func (l *Log) ReadReplica(ctx context.Context, tp index.TopicPartition, offset int64, maxBytes int) (ReadResult, error) {
	st, err := l.replicaState(ctx, tp)
	if err != nil {
		return ReadResult{}, err
	}
	return l.readState(ctx, st, offset, maxBytes)
}

// ReplicaOffsets is Offsets for a partition this log does not lead.
func (l *Log) ReplicaOffsets(ctx context.Context, tp index.TopicPartition) (logStart, highWatermark int64, err error) {
	st, err := l.replicaState(ctx, tp)
	return st.LogStartOffset, st.HighWatermark, err
}

// WatchReplica is Watch for a partition this log does not lead: a replica
// hears of no commits, so the channel closes after ReplicaRefresh, when a
// read may see new ones.
func (l *Log) WatchReplica(context.Context, index.TopicPartition) (<-chan struct{}, error) {
	ch := make(chan struct{})
	time.AfterFunc(l.cfg.ReplicaRefresh, func() { close(ch) })
	return ch, nil
}
