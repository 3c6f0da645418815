package tiered

// The log's lifecycle edits: moving the log start offset (retention,
// DeleteRecords) and replacing a run of index entries with rewritten ones
// (segment merging, key compaction). They change a partition's committed
// state as its leader, so they are fenced like every flush commit: a
// deposed leader's edit fails on the leader epoch or the revision.
//
// Invariants:
//   - an edit never changes which offsets below the high watermark exist
//     except by moving the log start offset up; a replacement covers the
//     same offsets as what it replaces (key compaction drops records, never
//     offsets);
//   - edits and flush commits of this Log are serialised by Log.commitMu,
//     so each builds on the state the other committed;
//   - an edit builds a new Entries slice and never writes into the backing
//     array of the committed one, which readers' snapshots share;
//   - an object an edit references was written less than ObjectGrace ago
//     when the edit commits (see commitBefore): garbage collection deletes
//     unreferenced objects only when older than that.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/segment"
)

// ErrStaleEdit means an edit's view of a partition no longer holds: the
// entries it was to replace changed (another edit, or a new leader, got
// there first). Nothing was changed; a later pass plans again.
var ErrStaleEdit = errors.New("tiered: partition changed since the edit was planned")

// edit replaces p's committed state with what fn makes of it, by
// compare-and-swap, serialised with flushes. fn must not change its
// argument's slices in place. It returns ErrNotLeader when p was lost, or
// fn's error.
func (l *Log) edit(ctx context.Context, p *partition, fn func(cur index.Partition) (index.Partition, error)) (index.Partition, error) {
	l.commitMu.Lock()
	defer l.commitMu.Unlock()
	p.mu.Lock()
	cur, rev, broken := p.committed, p.rev, p.broken
	p.mu.Unlock()
	if broken {
		return index.Partition{}, ErrNotLeader
	}
	next, err := fn(cur)
	if err != nil {
		return index.Partition{}, err
	}
	stored, newRev, err := l.cfg.Index.CommitPartition(ctx, p.tp, next, rev)
	if err != nil {
		if errors.Is(err, index.ErrConflict) || errors.Is(err, index.ErrFenced) {
			l.reloadStale(p, "index", rev, 0)
			return index.Partition{}, fmt.Errorf("%w: %w", ErrNotLeader, err)
		}
		return index.Partition{}, err
	}
	next.Chunks = stored.Chunks
	p.mu.Lock()
	p.committed, p.rev = next, newRev
	p.moved()
	p.mu.Unlock()
	return next, nil
}

// trimFront returns entries without those wholly below start, in a new
// slice.
func trimFront(entries []segment.IndexEntry, start int64) []segment.IndexEntry {
	i := 0
	for i < len(entries) && entries[i].LastOffset < start {
		i++
	}
	return slices.Clone(entries[i:])
}

// DeleteRecords moves tp's log start offset up to offset (Kafka's
// DeleteRecords; -1 means the high watermark) and returns the new log start
// offset (the low watermark). Blocks wholly below it leave the index, and
// their objects go to garbage collection once nothing references them. An
// offset at or below the log start offset changes nothing. It returns
// ErrOffsetOutOfRange for an offset above the high watermark.
func (l *Log) DeleteRecords(ctx context.Context, tp index.TopicPartition, offset int64) (int64, error) {
	p, err := l.partition(ctx, tp)
	if err != nil {
		return 0, err
	}
	s := p.head()
	if offset == -1 {
		offset = s.highWatermark
	}
	if offset < 0 || offset > s.highWatermark {
		return 0, fmt.Errorf("%w: delete records below %d, high watermark %d", ErrOffsetOutOfRange, offset, s.highWatermark)
	}
	return l.moveLogStart(ctx, p, offset)
}

// moveLogStart raises p's log start offset to start (never past what is
// durable, never down) and drops the entries below it.
func (l *Log) moveLogStart(ctx context.Context, p *partition, start int64) (int64, error) {
	st, err := l.edit(ctx, p, func(cur index.Partition) (index.Partition, error) {
		p.mu.Lock()
		hw := p.highWatermark()
		p.mu.Unlock()
		start := min(start, hw)
		if start <= cur.LogStartOffset {
			if len(cur.Entries) == 0 || cur.Entries[0].LastOffset >= cur.LogStartOffset {
				return index.Partition{}, errNoChange
			}
			start = cur.LogStartOffset // entries left below it by a flush
		}
		next := cur
		next.LogStartOffset = start
		next.Entries = trimFront(cur.Entries, start)
		next.Aborted = pruneAborted(cur.Aborted, start)
		return next, nil
	})
	if errors.Is(err, errNoChange) {
		return p.head().committed.LogStartOffset, nil
	}
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	p.aborted = pruneAborted(p.aborted, st.LogStartOffset)
	p.mu.Unlock()
	l.metrics.logStartMoves.Inc()
	return st.LogStartOffset, nil
}

// errNoChange ends an edit that finds nothing to do.
var errNoChange = errors.New("no change")

// State returns tp's committed state as its leader holds it, loading and
// claiming the partition if needed. The entries are shared: do not change
// them.
func (l *Log) State(ctx context.Context, tp index.TopicPartition) (index.Partition, error) {
	p, err := l.partition(ctx, tp)
	if err != nil {
		return index.Partition{}, err
	}
	return p.head().committed, nil
}

// Replacement swaps a run of a partition's index entries for rewritten ones
// (ReplaceEntries).
type Replacement struct {
	// Old is the run to replace, exactly as the state the job read held it.
	Old []segment.IndexEntry
	// New covers the same offsets (some may be gone from a compacted
	// block), in offset order, in objects written at or after Written.
	New []segment.IndexEntry
	// Written is when the first new object was created: the replacement
	// must commit within ObjectGrace of it, or garbage collection may
	// already count the objects as unreferenced.
	Written time.Time
	// Update, if set, changes the rest of the state in the same commit
	// (a cleaner's checkpoint).
	Update func(*index.Partition)
}

// ReplaceEntries commits r: the entries r.Old become r.New. It returns
// ErrStaleEdit, changing nothing, when r.Old is no longer a run of the
// committed index (an expiry or another rewrite got there first) or the
// grace to commit has passed; ErrNotLeader when the partition was lost.
func (l *Log) ReplaceEntries(ctx context.Context, tp index.TopicPartition, r Replacement) error {
	if len(r.Old) == 0 {
		return fmt.Errorf("%w: nothing to replace", ErrStaleEdit)
	}
	first, last := r.Old[0].BaseOffset, r.Old[len(r.Old)-1].LastOffset
	for _, e := range r.New {
		if e.BaseOffset < first || e.LastOffset > last {
			return fmt.Errorf("tiered: replacement entry [%d, %d] outside the replaced run [%d, %d]", e.BaseOffset, e.LastOffset, first, last)
		}
	}
	p, err := l.partition(ctx, tp)
	if err != nil {
		return err
	}
	_, err = l.edit(ctx, p, func(cur index.Partition) (index.Partition, error) {
		if !r.Written.IsZero() && l.cfg.Now().Sub(r.Written) >= l.cfg.ObjectGrace {
			return index.Partition{}, fmt.Errorf("%w: objects written %s ago, past the grace of %s", ErrStaleEdit, l.cfg.Now().Sub(r.Written).Round(time.Millisecond), l.cfg.ObjectGrace)
		}
		i := slices.IndexFunc(cur.Entries, func(e segment.IndexEntry) bool { return e == r.Old[0] })
		if i < 0 || i+len(r.Old) > len(cur.Entries) || !slices.Equal(cur.Entries[i:i+len(r.Old)], r.Old) {
			return index.Partition{}, ErrStaleEdit
		}
		next := cur
		entries := make([]segment.IndexEntry, 0, len(cur.Entries)-len(r.Old)+len(r.New))
		entries = append(entries, cur.Entries[:i]...)
		entries = append(entries, r.New...)
		entries = append(entries, cur.Entries[i+len(r.Old):]...)
		next.Entries = entries
		if r.Update != nil {
			r.Update(&next)
		}
		return next, nil
	})
	return err
}
