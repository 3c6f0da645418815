package tiered

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/segment"
)

// commitParallelism bounds the commits one flush retries one partition at a
// time, after the flush's multi-partition commit failed them. They are bound
// by JetStream's replication round trips, which it batches when many are in
// flight; the bound keeps a flush of tens of thousands of partitions from
// opening as many requests at once.
const commitParallelism = 1024

// Retry backoff for a flush's PUT and commits when the store or NATS fails.
const (
	retryInitial = 50 * time.Millisecond
	retryMax     = 5 * time.Second
	// putAttemptTimeout bounds one segment PUT: a full 8 MiB flush takes
	// well under a second on S3.
	putAttemptTimeout = 20 * time.Second
)

// flushPart is one partition's share of a flush.
type flushPart struct {
	p       *partition
	batches []*pending
	bytes   int
	entries []segment.IndexEntry
}

// flushed ends fp's share of the running flush in the tail accounting; it is
// called before fp's producers hear, so that they see the room it frees.
func (l *Log) flushed(fp *flushPart) {
	l.mu.Lock()
	l.flushing -= fp.bytes
	l.mu.Unlock()
}

// flush writes what the partitions have queued as one segment and commits
// it: every partition's batches with all set (on shutdown), else those of
// the partitions that are due (takeQueued).
func (l *Log) flush(ctx context.Context, all bool) error {
	start := l.cfg.Now()
	parts, oldestLeft := l.takeQueued(start, all)
	// Whatever happens to this flush, what was queued before it started is
	// no longer waiting, except what it left for a later flush: it is in
	// object storage or it failed.
	defer func() {
		l.mu.Lock()
		l.durableBefore = start
		if !oldestLeft.IsZero() && oldestLeft.Before(start) {
			l.durableBefore = oldestLeft
		}
		l.mu.Unlock()
	}()
	if len(parts) == 0 {
		// Idle for a while: the buffer goes until the next burst. Not at
		// the first empty flush: under load the ticker often fires just
		// after a flush that FlushBytes started took everything.
		if l.idleFlushes++; l.idleFlushes >= segmentBufIdleFlushes {
			l.segmentBuf = nil
		}
		return nil
	}
	l.idleFlushes = 0
	key := l.newObjectKey()
	body, err := l.writeSegment(key, parts)
	defer l.reuseSegmentBuf(body)
	if err == nil {
		putStart := l.cfg.Now()
		err = l.putSegment(ctx, key, body)
		l.metrics.putSeconds.Observe(l.cfg.Now().Sub(putStart).Seconds())
	}
	if err != nil {
		for _, fp := range parts {
			l.flushed(fp)
			l.drop(fp.p, fp.p.failInflight(fmt.Errorf("%w: %w", ErrNotDurable, err)))
		}
		return err
	}

	// Fill the cache before the commits make the data visible, so the first
	// fetch of the new data is served from memory, not by a GET.
	topicBytes := make(map[[16]byte]int)
	for _, fp := range parts {
		l.cacheBlocks(body, fp.entries)
		for _, pb := range fp.batches {
			topicBytes[fp.p.tp.TopicID] += len(pb.data)
		}
	}
	for id, n := range topicBytes {
		label := hex.EncodeToString(id[:])
		l.metrics.topicPuts.WithLabelValues(label).Inc()
		l.metrics.topicBytes.WithLabelValues(label).Add(float64(n))
	}
	// One multi-partition commit, then the partitions it failed one at a
	// time, with retries and the check for an answer lost after the write.
	// They must land within ObjectGrace of the segment's creation, after
	// which garbage collection may take it for an orphan.
	l.commitMu.Lock()
	defer l.commitMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, l.cfg.ObjectGrace-l.cfg.Now().Sub(start))
	defer cancel()
	commits := make([]index.Commit, len(parts))
	for i, fp := range parts {
		commits[i] = l.nextCommit(fp)
	}
	commitStart := l.cfg.Now()
	results := l.cfg.Index.CommitPartitions(ctx, commits)
	l.metrics.commitSeconds.Observe(l.cfg.Now().Sub(commitStart).Seconds())
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(commitParallelism)
	for i, fp := range parts {
		if results[i].Err == nil {
			l.committed(fp, commits[i].Next, results[i].Stored, results[i].Revision)
			continue
		}
		g.Go(func() error {
			if err := l.commit(gctx, key, fp, commits[i]); err != nil {
				l.cfg.Logger.Warn("index commit failed", "object", key, "partition", fp.p.tp.Partition, "err", err)
				l.flushed(fp)
				l.drop(fp.p, fp.p.failInflight(err))
			}
			return nil
		})
	}
	_ = g.Wait() // commit errors are handled per partition above
	l.metrics.flushSeconds.Observe(l.cfg.Now().Sub(start).Seconds())
	return nil
}

// cacheBlocks puts the blocks entries index in the block cache, copied out
// of body a run of adjacent blocks at a time (a partition's blocks in a
// segment are adjacent). A block cached as a slice of body would keep the
// whole segment in memory as long as it stays cached: with 10,000
// partitions a segment holds 10,000 small runs, a few of them read again
// keep it alive, and a gateway's heap held 425 MB of segments against a
// block cache of 256 MiB.
func (l *Log) cacheBlocks(body []byte, entries []segment.IndexEntry) {
	for len(entries) > 0 {
		n, end := 1, entries[0].Position+entries[0].Length
		for n < len(entries) && entries[n].Position == end {
			end += entries[n].Length
			n++
		}
		start := entries[0].Position
		run := bytes.Clone(body[start:end])
		for _, e := range entries[:n] {
			off := e.Position - start
			l.cache.Put(blockKey(e), run[off:off+e.Length:off+e.Length])
		}
		entries = entries[n:]
	}
}

// takeQueued moves the queued batches of the partitions due at now to in
// flight, or of all of them with all set, and returns when the oldest batch
// it left waiting was queued (zero if none).
//
// A partition is due when it is on the s3 tier, has PartitionFlushBytes
// queued, or has waited its flushAge. What the others may hold is bounded by
// maxDeferred: past it, the longest waiting go too. Unless all is set, a
// flush takes at most maxSegmentBytes (or one partition that queued more),
// the longest waiting first, and asks for the next flush at once if it left
// a due partition.
func (l *Log) takeQueued(now time.Time, all bool) (parts []*flushPart, oldestLeft time.Time) {
	l.mu.Lock()
	ps := slices.AppendSeq(slices.Collect(maps.Values(l.parts)), maps.Keys(l.draining))
	l.mu.Unlock()

	type waiting struct {
		p     *partition
		since time.Time
	}
	var due, left []waiting
	taken := 0
	take := func(p *partition) int { // the caller holds p.mu
		p.inflight, p.queued = p.queued, nil
		fp := &flushPart{p: p, batches: p.inflight, bytes: pendingBytes(p.inflight)}
		parts = append(parts, fp)
		taken += fp.bytes
		return fp.bytes
	}
	for _, p := range ps {
		p.mu.Lock()
		if len(p.queued) > 0 && len(p.inflight) == 0 {
			w := waiting{p, p.queuedSince}
			if all || p.draining || p.durability == DurabilityS3 || pendingBytes(p.queued) >= l.cfg.PartitionFlushBytes || now.Sub(p.queuedSince) >= p.flushAge {
				due = append(due, w)
			} else {
				left = append(left, w)
			}
		}
		p.mu.Unlock()
	}
	bySince := func(a, b waiting) int { return a.since.Compare(b.since) }
	// fits reports whether p's queue goes into this segment, which then
	// stays within maxSegmentBytes (so that its buffer is reused). The
	// caller holds p.mu.
	fits := func(p *partition) bool {
		return all || len(parts) == 0 || taken+pendingBytes(p.queued) <= l.maxSegmentBytes()
	}
	if !all {
		slices.SortFunc(due, bySince)
	}
	for i, w := range due {
		// Only a flush takes a partition's queue to in flight, and
		// flushes run one at a time: what was queued is queued still.
		w.p.mu.Lock()
		ok := fits(w.p)
		if ok {
			take(w.p)
		}
		w.p.mu.Unlock()
		if !ok {
			left = append(left, due[i:]...)
			l.flushSoon()
			break
		}
	}
	l.mu.Lock()
	staying := l.queued - taken
	l.mu.Unlock()
	if limit := l.maxDeferred(); staying > limit {
		slices.SortFunc(left, bySince)
		for len(left) > 0 && staying > limit {
			w := left[0]
			w.p.mu.Lock()
			ok := fits(w.p)
			if ok && len(w.p.queued) > 0 && len(w.p.inflight) == 0 {
				staying -= take(w.p)
			}
			w.p.mu.Unlock()
			if !ok {
				l.flushSoon()
				break
			}
			left = left[1:]
		}
	}
	for _, w := range left {
		if oldestLeft.IsZero() || w.since.Before(oldestLeft) {
			oldestLeft = w.since
		}
	}
	l.mu.Lock()
	l.queued -= taken
	l.flushing = taken
	l.deferred = l.queued
	l.mu.Unlock()
	// Sorting makes a segment's layout independent of map order, which keeps
	// objects reproducible for tests and groups a topic's partitions together.
	slices.SortFunc(parts, func(a, b *flushPart) int {
		if c := bytes.Compare(a.p.tp.TopicID[:], b.p.tp.TopicID[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.p.tp.Partition, b.p.tp.Partition)
	})
	return parts, oldestLeft
}

// flushAge is how long tp's wal-tier batches may wait for a flush: PartitionFlushAge,
// spread over [½, 1½) of it by the partition's hash. Partitions that start
// together would otherwise come due together, and one flush in every
// PartitionFlushAge would commit them all.
func (l *Log) flushAge(tp index.TopicPartition) time.Duration {
	h := fnv.New32a()
	h.Write(tp.TopicID[:])
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(tp.Partition)))
	spread := float64(h.Sum32()) / (1 << 32)
	return time.Duration(float64(l.cfg.PartitionFlushAge) * (0.5 + spread))
}

// maxDeferred bounds the bytes partitions that are not due may keep queued
// past a flush: a quarter of MaxTailBytes, so deferring alone never brings
// the tail near backpressure.
func (l *Log) maxDeferred() int { return l.cfg.MaxTailBytes / 4 }

// maxSegmentBytes bounds the batches one flush takes: a quarter of
// MaxTailBytes. The segment is built in memory next to the tail it copies;
// with the tail at its bound (10,000 partitions trickling, whose flushes
// fall behind), segments of 100 MB were a new allocation per flush and
// the largest part of a gateway's heap after the tail and the cache.
func (l *Log) maxSegmentBytes() int { return l.cfg.MaxTailBytes / 4 }

// segmentBufSize is the buffer a segment of n bytes of batches is built in:
// compression only shrinks the batches, and the slack covers block framing
// and the footer.
func segmentBufSize(n int) int { return n + n/32 + 64<<10 }

func pendingBytes(batches []*pending) int {
	n := 0
	for _, pb := range batches {
		n += len(pb.data)
	}
	return n
}

// writeSegment encodes parts as one segment and records each part's entries.
func (l *Log) writeSegment(key string, parts []*flushPart) ([]byte, error) {
	// Sized up front: grown by doubling, the buffer's clearing and copying
	// took a fifth of a producing gateway's CPU.
	size := 0
	for _, fp := range parts {
		size += fp.bytes
	}
	need := segmentBufSize(size)
	b := l.segmentBuf[:0]
	l.segmentBuf = nil // the segment owns it until reuseSegmentBuf
	if cap(b) < need {
		// Not bytes.Buffer.Grow, which doubles: a buffer past the reuse
		// bound would be dropped after this flush, and allocated again
		// by the next. A quarter to spare, within the bound, lets the
		// next flushes of about this size reuse it.
		b = make([]byte, 0, max(need, min(need+need/4, segmentBufSize(l.maxSegmentBytes()))))
	}
	buf := bytes.NewBuffer(b)
	w := segment.NewWriter(buf, segment.WriterOptions{BlockSize: l.cfg.BlockSize})
	for _, fp := range parts {
		for _, pb := range fp.batches {
			if err := w.Add(fp.p.tp.TopicID, fp.p.tp.Partition, pb.data); err != nil {
				return nil, fmt.Errorf("add batch to segment %s: %w", key, err)
			}
		}
	}
	entries, err := w.Close()
	if err != nil {
		return nil, fmt.Errorf("close segment %s: %w", key, err)
	}
	// The writer emits a partition's entries contiguously and in the order
	// parts were added.
	i := 0
	for _, fp := range parts {
		for i < len(entries) && entries[i].TopicID == fp.p.tp.TopicID && entries[i].Partition == fp.p.tp.Partition {
			e := entries[i]
			e.Object = key
			fp.entries = append(fp.entries, e)
			i++
		}
	}
	if i != len(entries) {
		return nil, fmt.Errorf("segment %s: %d of %d index entries not matched to a partition", key, len(entries)-i, len(entries))
	}
	return buf.Bytes(), nil
}

// segmentBufIdleFlushes is how many flushes in a row find nothing to write
// before the segment buffer goes.
const segmentBufIdleFlushes = 8

// reuseSegmentBuf keeps body's buffer for the next flush's segment, unless
// it outgrew a segment of maxSegmentBytes (one partition's queue can be
// larger). A flush at full produce speed takes what arrived while the last
// one ran, 20 MiB on average at 160 MB/s, so the bound is on the tail
// rather than on FlushBytes; the buffer goes once segmentBufIdleFlushes
// flushes in a row find nothing to write.
func (l *Log) reuseSegmentBuf(body []byte) {
	if body != nil && cap(body) <= segmentBufSize(l.maxSegmentBytes()) {
		l.segmentBuf = body[:0]
	}
}

// putSegment PUTs the segment, retrying with backoff until it succeeds or ctx
// ends. Retrying the same key is safe: a PUT that succeeded but whose answer was
// lost makes the retry fail with ErrExists, which means it is there.
func (l *Log) putSegment(ctx context.Context, key string, body []byte) error {
	return retry(ctx, func() error {
		// A store that stops answering (a hung connection, not a refused
		// one) must not hold the flush forever: the attempt ends, and the
		// next one dials afresh.
		actx, cancel := context.WithTimeout(ctx, putAttemptTimeout)
		err := l.cfg.Bucket.Put(actx, key, bytes.NewReader(body), int64(len(body)))
		cancel()
		if err == nil {
			l.metrics.putBytes.Add(float64(len(body)))
		}
		l.metrics.puts.Inc()
		if err != nil {
			if errors.Is(err, objstore.ErrExists) {
				return nil
			}
			l.metrics.putErrors.Inc()
			l.cfg.Logger.Warn("segment put failed, retrying", "object", key, "err", err)
		}
		return err
	}, func(error) bool { return true })
}

// nextCommit returns fp's partition's next state: the committed one with
// fp's entries, high watermark, producers and WAL sequence.
func (l *Log) nextCommit(fp *flushPart) index.Commit {
	p := fp.p
	p.mu.Lock()
	prev, rev := p.committed, p.rev
	p.mu.Unlock()

	next := prev
	// Appending may write beyond len(prev.Entries) in the shared backing
	// array; snapshots never look there, and only the flush appends.
	next.Entries = append(prev.Entries, fp.entries...)
	next.HighWatermark = fp.batches[len(fp.batches)-1].h.LastOffset() + 1
	next.Producers = l.nextProducers(prev.Producers, fp.batches)
	next.OpenTxns, next.Aborted = nextTxns(prev, fp.batches)
	next.Aborted = pruneAborted(next.Aborted, next.LogStartOffset)
	for _, pb := range fp.batches {
		next.WALSeq = max(next.WALSeq, pb.walSeq)
	}
	return index.Commit{TP: p.tp, Next: next, PrevRevision: rev}
}

// commit commits c, fp's next state, on its own by compare-and-swap,
// retrying while the coordinator does not answer, then finishes the
// batches.
func (l *Log) commit(ctx context.Context, key string, fp *flushPart, c index.Commit) error {
	var stored index.Partition
	var newRev uint64
	err := retry(ctx, func() error {
		var err error
		stored, newRev, err = l.cfg.Index.CommitPartition(ctx, c.TP, c.Next, c.PrevRevision)
		if errors.Is(err, index.ErrConflict) {
			// An earlier attempt may have landed with its answer lost.
			stored, newRev, err = l.landed(ctx, c.TP, c.Next, key, err)
		}
		return err
	}, func(err error) bool {
		return !errors.Is(err, index.ErrConflict) && !errors.Is(err, index.ErrFenced)
	})
	if err != nil {
		return fmt.Errorf("%w: commit %x/%d: %w", ErrNotLeader, c.TP.TopicID, c.TP.Partition, err)
	}
	l.committed(fp, c.Next, stored, newRev)
	return nil
}

// committed makes fp's batches visible once next is stored at rev.
func (l *Log) committed(fp *flushPart, next, stored index.Partition, rev uint64) {
	p := fp.p
	next.Chunks = stored.Chunks
	p.mu.Lock()
	p.committed, p.rev = next, rev
	if p.durability == DurabilityS3 { // on the wal tier the state ran ahead at the WAL append
		p.openTxns, p.aborted = maps.Clone(next.OpenTxns), next.Aborted
		if p.openTxns == nil {
			p.openTxns = make(map[int64]int64)
		}
	}
	p.purgeBelow = max(p.purgeBelow, next.WALSeq)
	batches := p.inflight
	p.inflight = nil
	l.resetChainFloor(p)
	p.moved()
	drained := p.draining && p.drained()
	p.mu.Unlock()
	l.flushed(fp)
	finishAll(batches, nil)
	if drained {
		l.finishDrain(p)
	}
}

// landed checks, after a conflict, whether the stored state is exactly the one
// this commit tried to write (an earlier attempt succeeded but its reply was
// lost). If so it returns that state; otherwise the original conflict.
func (l *Log) landed(ctx context.Context, tp index.TopicPartition, next index.Partition, key string, conflict error) (index.Partition, uint64, error) {
	st, rev, err := l.cfg.Index.LoadPartition(ctx, tp)
	if err != nil {
		return index.Partition{}, 0, err
	}
	n := len(st.Entries)
	if st.LeaderEpoch == next.LeaderEpoch && st.HighWatermark == next.HighWatermark && n > 0 && st.Entries[n-1].Object == key {
		return st, rev, nil
	}
	return index.Partition{}, 0, conflict
}

// nextProducers returns the committed producer state after batches, dropping
// producers idle for longer than ProducerExpiry so the state stays bounded.
func (l *Log) nextProducers(prev map[int64]index.Producer, batches []*pending) map[int64]index.Producer {
	nowMs := l.cfg.Now().UnixMilli()
	next := make(map[int64]index.Producer, len(prev))
	for id, st := range prev {
		if nowMs-st.LastTimestamp < l.cfg.ProducerExpiry.Milliseconds() {
			next[id] = st
		}
	}
	for _, pb := range batches {
		if pb.h.Idempotent() {
			next[pb.h.ProducerID] = recordProducerBatch(next[pb.h.ProducerID], pb.h, nowMs)
		}
	}
	if len(next) == 0 {
		return nil
	}
	return next
}

// failInflight fails the in-flight and queued batches: once a commit fails,
// later batches' offsets were assigned on top of it and cannot stand. (Batches
// already acknowledged from the WAL keep their answer: the next load replays
// them.) The partition is marked broken so the next use reloads it. It
// returns the bytes dropped from the queue (in-flight bytes were already taken
// from it).
func (p *partition) failInflight(err error) int {
	p.mu.Lock()
	inflight := p.inflight
	p.inflight = nil
	p.mu.Unlock()
	finishAll(inflight, err)
	return p.failQueued(err)
}

// retry calls f until it succeeds, returns an error retriable rejects, or ctx
// ends, backing off exponentially between attempts.
func retry(ctx context.Context, f func() error, retriable func(error) bool) error {
	wait := retryInitial
	for {
		err := f()
		if err == nil || !retriable(err) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-t.C:
		}
		wait = min(2*wait, retryMax)
	}
}

func blockKey(e segment.IndexEntry) string {
	return fmt.Sprintf("%s@%d", e.Object, e.Position)
}
