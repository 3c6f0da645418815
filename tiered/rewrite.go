package tiered

// Segment merging and key compaction as the partition's leader runs them
// (the planning is coordinator/schedule's, the object work tiered/compact's):
// read the run of index entries, write its batches, cleaned or not, into new
// per-partition segments, then replace the run in the index with one whole
// entry per new object (ReplaceEntries, fenced by the leader epoch). Crash
// ordering: PUT the new objects, commit the replacement, and leave the old
// objects to garbage collection; a crash before the commit leaves the new
// objects unreferenced, a crash after it the old ones, and either kind is
// deleted after the grace period. Reads go on throughout: a reader holding
// the old state reads the old objects, which outlive the commit by at least
// the grace period.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stratalog/strata/tiered/batch"
	"github.com/stratalog/strata/tiered/compact"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/segment"
)

// DefaultCleanerMemory is Config.CleanerMemory's default: Kafka's
// log.cleaner.dedupe.buffer.size is 128 MiB over all its cleaner threads.
const DefaultCleanerMemory = 64 << 20

// Merge rewrites run, consecutive entries of tp's committed index, into
// per-partition segments of about target bytes (cut where the batches span
// more than maxSpan; 0: no limit) and replaces them in the index with one
// entry per segment. The batches are copied byte for byte.
//
// It returns ErrStaleEdit, leaving the new objects to garbage collection,
// when the run is no longer in the index by the time it commits, and
// ErrNotLeader when the partition was lost.
func (l *Log) Merge(ctx context.Context, tp index.TopicPartition, run []segment.IndexEntry, target int64, maxSpan time.Duration) (index.RewriteStats, error) {
	return l.rewrite(ctx, "merge", tp, run, compact.Config{TargetBytes: target, MaxSpan: maxSpan}, nil)
}

// Clean key-compacts tp's log (Kafka's LogCleaner, see tiered/compact) from
// its start up to upTo, which must be the end of an index entry: it builds
// the latest offset of every key from the batches at or above from (the
// dirty part, or the log start to remove tombstones whose horizon passed),
// rewrites every batch below upTo keeping each key's latest record and the
// tombstones still within deleteRetention, and replaces those entries with
// the new segments, recording the cleaner checkpoint (CleanedOffset) in the
// same commit. Offsets never change.
//
// Errors are Merge's.
func (l *Log) Clean(ctx context.Context, tp index.TopicPartition, from, upTo int64, deleteRetention time.Duration, target int64, maxSpan time.Duration) (index.RewriteStats, error) {
	p, err := l.partition(ctx, tp)
	if err != nil {
		return index.RewriteStats{}, err
	}
	snap := p.head()
	st := snap.committed
	// Open transactions may yet abort: only what is below the LSO is
	// decided (Kafka's first uncleanable offset).
	upTo = min(upTo, snap.lastStable)
	aborted := abortedBatches(st.Aborted)
	var run []segment.IndexEntry
	for _, e := range st.Entries {
		if e.LastOffset >= st.LogStartOffset && e.LastOffset < upTo {
			run = append(run, e)
		}
	}
	if len(run) == 0 {
		return index.RewriteStats{}, nil
	}
	m := compact.NewOffsetMap(compact.MaxEntriesFor(l.cfg.CleanerMemory), 0)
	defer m.Close()
	var read index.RewriteStats
	cleanedTo, err := l.buildOffsetMap(ctx, m, run, from, aborted, &read)
	if err != nil {
		return read, err
	}
	if cleanedTo <= max(from, st.LogStartOffset) && from > st.LogStartOffset {
		return read, fmt.Errorf("tiered: the first dirty block's keys do not fit in the cleaner's %d bytes", l.cfg.CleanerMemory)
	}
	for len(run) > 0 && run[len(run)-1].LastOffset >= cleanedTo {
		run = run[:len(run)-1]
	}
	if len(run) == 0 {
		return read, nil
	}
	cleaner := &compact.Cleaner{
		Map:               m,
		Now:               l.cfg.Now().UnixMilli(),
		DeleteRetentionMs: deleteRetention.Milliseconds(),
		UpperBound:        cleanedTo,
		Aborted:           aborted,
		KeepLast: func(h batch.Header) bool {
			pr, ok := st.Producers[h.ProducerID]
			return ok && len(pr.Batches) > 0 && pr.Batches[len(pr.Batches)-1].LastOffset == h.LastOffset()
		},
	}
	defer cleaner.Close()
	res, err := l.rewrite(ctx, "clean", tp, run, compact.Config{TargetBytes: target, MaxSpan: maxSpan, Clean: cleaner.Clean}, func(next *index.Partition) {
		next.CleanedOffset = max(next.CleanedOffset, cleanedTo)
		next.DeleteHorizonMs = max(cleaner.Stats().NextHorizon, 0)
	})
	res.BytesRead += read.BytesRead
	res.Gets += read.Gets
	l.metrics.rewriteBytesRead.WithLabelValues("clean").Add(float64(read.BytesRead))
	l.metrics.rewriteGets.WithLabelValues("clean").Add(float64(read.Gets))
	if err == nil {
		s := cleaner.Stats()
		l.cfg.Logger.Debug("partition cleaned", "partition", tp.Partition, "offset", cleanedTo,
			"records_kept", s.RecordsKept, "records_removed", s.RecordsRemoved, "tombstones_removed", s.TombstonesRemoved)
	}
	return res, err
}

// buildOffsetMap adds to m the batches of run at or above from, and returns
// the offset after the last entry it added whole: where cleaning can stop.
// A full map ends it early.
func (l *Log) buildOffsetMap(ctx context.Context, m *compact.OffsetMap, run []segment.IndexEntry, from int64, aborted func(batch.Header) bool, stats *index.RewriteStats) (int64, error) {
	end := run[0].BaseOffset
	for _, e := range run {
		if e.LastOffset < from {
			end = e.LastOffset + 1
			continue
		}
		blocks, err := l.blocksOf(ctx, e)
		if err != nil {
			return 0, err
		}
		for _, b := range blocks {
			data, err := l.getRange(ctx, b.Object, b.Position, b.Length) // not cached: a one-off scan
			if err != nil {
				return 0, err
			}
			stats.Gets++
			stats.BytesRead += int64(len(data))
			err = batch.Each(data, func(bb []byte, h batch.Header) error {
				if h.LastOffset() < from || aborted(h) {
					return nil
				}
				return m.Add(bb)
			})
			if errors.Is(err, compact.ErrMapFull) {
				return end, nil
			}
			if err != nil {
				return 0, fmt.Errorf("offset map from %s at %d: %w", b.Object, b.Position, err)
			}
		}
		end = e.LastOffset + 1
	}
	return end, nil
}

// rewrite runs compact.Rewrite over run's blocks and commits the result in
// place of run, with update applied to the state in the same commit.
func (l *Log) rewrite(ctx context.Context, kind string, tp index.TopicPartition, run []segment.IndexEntry, cfg compact.Config, update func(*index.Partition)) (index.RewriteStats, error) {
	var blocks []segment.IndexEntry
	for _, e := range run {
		bs, err := l.blocksOf(ctx, e)
		if err != nil {
			return index.RewriteStats{}, err
		}
		blocks = append(blocks, bs...)
	}
	written := l.cfg.Now()
	cfg.Bucket = l.cfg.Bucket
	cfg.NewKey = l.newObjectKey
	cfg.BlockSize = l.cfg.BlockSize
	res, err := compact.Rewrite(ctx, cfg, blocks)
	out := index.RewriteStats{BytesRead: res.BytesRead, BytesWritten: res.BytesWritten, Gets: res.Gets, Puts: res.Puts, EntriesBefore: len(run)}
	l.metrics.rewriteBytesRead.WithLabelValues(kind).Add(float64(res.BytesRead))
	l.metrics.rewriteBytesWritten.WithLabelValues(kind).Add(float64(res.BytesWritten))
	l.metrics.rewritePuts.WithLabelValues(kind).Add(float64(res.Puts))
	l.metrics.rewriteGets.WithLabelValues(kind).Add(float64(res.Gets))
	if err != nil {
		return out, err
	}
	whole := wholeEntries(res.Entries)
	out.EntriesAfter = len(whole)
	l.cfg.StepHook(kind + ":written")
	if err = l.ReplaceEntries(ctx, tp, Replacement{Old: run, New: whole, Written: written, Update: update}); err != nil {
		return out, err
	}
	l.cfg.StepHook(kind + ":committed")
	return out, nil
}

// wholeEntries turns the block entries of per-partition segments into one
// whole entry per object.
func wholeEntries(blocks []segment.IndexEntry) []segment.IndexEntry {
	var out []segment.IndexEntry
	for _, b := range blocks {
		if n := len(out); n > 0 && out[n-1].Object == b.Object {
			w := &out[n-1]
			w.LastOffset = b.LastOffset
			w.MaxTimestamp = max(w.MaxTimestamp, b.MaxTimestamp)
			w.Length = b.Position + b.Length - w.Position
			w.Records += b.Records
			continue
		}
		b.Whole = true
		out = append(out, b)
	}
	return out
}

// abortedBatches returns whether a data batch belongs to one of the
// aborted transactions: its producer's, between its first offset and its
// marker.
func abortedBatches(aborted []index.AbortedTxn) func(batch.Header) bool {
	byProducer := map[int64][]index.AbortedTxn{}
	for _, a := range aborted {
		byProducer[a.ProducerID] = append(byProducer[a.ProducerID], a)
	}
	return func(h batch.Header) bool {
		if !h.Transactional() || h.Control() {
			return false
		}
		for _, a := range byProducer[h.ProducerID] {
			if a.FirstOffset <= h.BaseOffset && h.LastOffset() < a.LastOffset {
				return true
			}
		}
		return false
	}
}
