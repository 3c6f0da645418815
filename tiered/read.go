package tiered

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/stratalog/strata/tiered/batch"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/segment"
)

// maxBlocksPerRead bounds the blocks one Read walks, so a tiny-batch backlog
// cannot turn one fetch into thousands of GETs; the client fetches again.
const maxBlocksPerRead = 64

// maxDecompressedBatch caps what a timestamp lookup decompresses from one batch:
// Kafka's message.max.bytes ceiling, with room for compression ratios.
const maxDecompressedBatch = 64 << 20

// ReadResult is what Read returns.
type ReadResult struct {
	// Records holds whole RecordBatch v2 batches, in offset order. The first
	// batch may start before the offset asked for (clients skip records
	// below it, as with Kafka). It may be the block cache's own bytes:
	// the caller must not modify it.
	Records []byte
	// HighWatermark, LastStableOffset and LogStartOffset are the
	// partition's at the read.
	HighWatermark    int64
	LastStableOffset int64
	LogStartOffset   int64
	// AbortedTxns, for ReadCommitted, are the aborted transactions whose
	// records the batches returned may hold, for the consumer to skip.
	AbortedTxns []index.AbortedTxn
}

// Read returns batches from offset on, up to maxBytes, except that the first
// batch is returned whole even if larger (Kafka's KIP-74 rule, so a consumer can
// always make progress). Reading at the high watermark returns no records. It
// returns ErrOffsetOutOfRange, with the offsets filled in, for an offset outside
// [log start, high watermark].
//
// A read at the high watermark (a consumer waiting for new records) also
// checks, at most once per VerifyInterval, that no other gateway committed to
// the partition since this one claimed it. Leadership can move away and back
// between two of this gateway's looks at the membership; the new records are
// then the other gateway's, and this one reloads the partition to serve them.
func (l *Log) Read(ctx context.Context, tp index.TopicPartition, offset int64, maxBytes int, iso Isolation) (ReadResult, error) {
	return l.read(ctx, tp, offset, maxBytes, iso == ReadCommitted)
}

// Isolation is a read's isolation level; the values are Kafka's.
type Isolation int8

const (
	// ReadUncommitted reads up to the high watermark.
	ReadUncommitted Isolation = 0
	// ReadCommitted reads below the last stable offset only, and returns
	// the aborted transactions among what it read (ReadResult.AbortedTxns).
	// Offsets between the LSO and the high watermark read as nothing.
	ReadCommitted Isolation = 1
)

func (l *Log) read(ctx context.Context, tp index.TopicPartition, offset int64, maxBytes int, committed bool) (ReadResult, error) {
	p, err := l.partition(ctx, tp)
	if err != nil {
		return ReadResult{}, err
	}
	s := p.snapshot()
	reload := false
	switch {
	case offset > s.highWatermark:
		// Consumers reset their position on OFFSET_OUT_OF_RANGE; make sure
		// the offset is not one another leader appended since the load.
		if reload, err = l.walSuperseded(ctx, p); err != nil {
			return ReadResult{}, fmt.Errorf("%w: offset %d past the end not confirmed against the wal: %w", ErrNotLeader, offset, err)
		}
	case offset == s.highWatermark:
		reload = l.verifyClaim(ctx, p)
	}
	if reload {
		if p, err = l.partition(ctx, tp); err != nil {
			return ReadResult{}, err
		}
		s = p.snapshot()
	}
	res, err := l.readState(ctx, tp, s, offset, maxBytes, committed)
	if errors.Is(err, objstore.ErrNotExist) {
		// The snapshot's object was merged or expired away and collected
		// while this read held it (it outlived the garbage collector's
		// grace): the current state names where the records are now.
		res, err = l.readState(ctx, tp, p.snapshot(), offset, maxBytes, committed)
	}
	return res, err
}

// readState reads from a snapshot (see Read): segment blocks up to the
// committed high watermark, then the WAL tail from memory.
func (l *Log) readState(ctx context.Context, tp index.TopicPartition, s snapshot, offset int64, maxBytes int, committed bool) (ReadResult, error) {
	st := s.committed
	res := ReadResult{HighWatermark: s.highWatermark, LastStableOffset: s.lastStable, LogStartOffset: st.LogStartOffset}
	if offset < st.LogStartOffset || offset > s.highWatermark {
		return res, ErrOffsetOutOfRange
	}
	r := reader{l: l, tp: tp, st: st, offset: offset, end: s.highWatermark, maxBytes: maxBytes, res: &res}
	if committed {
		r.end = s.lastStable
	}
	if err := r.read(ctx, s); err != nil {
		return res, err
	}
	if r.blocks > 0 {
		l.prefetch.after(tp, st, r.last+1, r.missed)
	}
	l.metrics.readBytes.Add(float64(len(res.Records)))
	if committed && r.last >= offset {
		res.AbortedTxns = abortedIn(s.aborted, offset, r.last+1)
	}
	return res, nil
}

// read adds the committed batches, then the WAL tail's.
func (r *reader) read(ctx context.Context, s snapshot) error {
	full, err := r.entries(ctx, s.committed)
	if err != nil || full {
		return err
	}
	for _, tb := range s.tail {
		if tb.h.LastOffset() < r.offset {
			continue
		}
		if r.stop(tb.h, len(tb.data)) {
			break
		}
		r.res.Records = append(r.res.Records, tb.data...)
		r.last = tb.h.LastOffset()
		if len(r.res.Records) >= r.maxBytes {
			break
		}
	}
	return nil
}

// reader is one read's bounds and progress: batches from offset on, below
// end (the high watermark, or the LSO for read_committed), up to maxBytes
// but at least one batch; last is the last offset of what it added.
type reader struct {
	l        *Log
	tp       index.TopicPartition
	st       index.Partition
	offset   int64
	end      int64
	maxBytes int
	res      *ReadResult
	last     int64
	// blocks counts the committed blocks read, missed says one of them
	// was not in the cache (for read-ahead), and cold that read-ahead was
	// started from the first block found missing.
	blocks int
	missed bool
	cold   bool
}

// stop reports whether the batch h, of size bytes, is past the read.
func (r *reader) stop(h batch.Header, size int) bool {
	return h.BaseOffset >= r.end || len(r.res.Records) > 0 && len(r.res.Records)+size > r.maxBytes
}

// addBlock adds whole batches of one segment block, through last. The first
// batches a read adds are the block's own bytes, not a copy: the cache's
// blocks are never modified, and neither are ReadResult.Records. The full
// slice expression makes any later append copy them.
func (r *reader) addBlock(b []byte, last int64) {
	if len(r.res.Records) == 0 {
		r.res.Records = b[:len(b):len(b)]
	} else {
		r.res.Records = append(r.res.Records, b...)
	}
	r.last = last
}

// entries appends the committed batches from the read's offset on. full
// reports that the read stopped before the committed high watermark: its
// end, maxBytes or maxBlocksPerRead was reached, and nothing beyond may be
// appended.
func (r *reader) entries(ctx context.Context, st index.Partition) (full bool, err error) {
	offset := r.offset
	if offset >= st.HighWatermark {
		return false, nil
	}
	if offset >= r.end {
		return true, nil
	}
	l := r.l
	entries := st.Entries
	i := sort.Search(len(entries), func(i int) bool { return entries[i].LastOffset >= offset })
	n := 0
	for ; i < len(entries); i++ {
		blocks, err := l.blocksOf(ctx, entries[i])
		if err != nil {
			return false, err
		}
		for _, e := range blocks {
			if e.LastOffset < offset {
				continue
			}
			if n == maxBlocksPerRead {
				return true, nil
			}
			n++
			if full, err = r.block(ctx, e); err != nil || full {
				return full, err
			}
		}
	}
	return false, nil
}

// block appends the batches of block e from the read's offset on; full
// reports that the read's end or maxBytes was reached.
func (r *reader) block(ctx context.Context, e segment.IndexEntry) (full bool, err error) {
	r.blocks++
	if !r.cold && !r.l.cache.Contains(blockKey(e)) {
		// A cold read: start reading ahead from the block after this one
		// now, so that the next blocks, which this read may need too, are
		// fetched while this one's GET runs rather than after it.
		r.cold = true
		r.l.prefetch.after(r.tp, r.st, e.LastOffset+1, true)
	}
	block, missed, err := r.l.blockMissed(ctx, e)
	if err != nil {
		return false, err
	}
	r.missed = r.missed || missed
	// The batches to add are a run of the block's bytes, [from, to): add
	// them at once, so a read copies no more than it returns.
	from, to, pos, last := -1, -1, 0, int64(-1)
	added := len(r.res.Records)
	err = batch.Each(block, func(b []byte, h batch.Header) error {
		at := pos
		pos += len(b)
		if h.LastOffset() < r.offset {
			return nil
		}
		if (added > 0 || from >= 0) && added+len(b) > r.maxBytes || h.BaseOffset >= r.end {
			full = true
			return errStopIteration
		}
		if from < 0 {
			from = at
		}
		to, last = pos, h.LastOffset()
		added += len(b)
		return nil
	})
	if err != nil && !errors.Is(err, errStopIteration) {
		return false, fmt.Errorf("read block of %s at %d: %w", e.Object, e.Position, err)
	}
	if from >= 0 {
		r.addBlock(block[from:to], last)
	}
	return full || len(r.res.Records) >= r.maxBytes, nil
}

// blocksOf returns the blocks an index entry stands for: the entry itself,
// or for a whole per-partition segment (IndexEntry.Whole) the blocks its
// footer lists, read through the cache with one ranged GET of the object's
// suffix on a miss.
func (l *Log) blocksOf(ctx context.Context, e segment.IndexEntry) ([]segment.IndexEntry, error) {
	if !e.Whole {
		return []segment.IndexEntry{e}, nil
	}
	end := e.Position + e.Length // where the blocks end and the footer starts
	suffix, err := l.cache.Get(ctx, e.Object+"#footer", func(ctx context.Context) ([]byte, error) {
		l.metrics.cacheMisses.Inc()
		return l.getRange(ctx, e.Object, end, -1)
	})
	if err != nil {
		return nil, err
	}
	t, err := segment.DecodeTrailer(suffix)
	if err != nil {
		return nil, fmt.Errorf("footer of %s: %w", e.Object, err)
	}
	footerStart := int64(len(suffix)) - t.IndexSize()
	if footerStart < 0 {
		return nil, fmt.Errorf("footer of %s: %d bytes after the blocks, index of %d: %w", e.Object, len(suffix), t.IndexSize(), segment.ErrCorrupt)
	}
	all, err := segment.DecodeFooter(suffix[footerStart:footerStart+int64(t.FooterLength)], t, end+int64(len(suffix)))
	if err != nil {
		return nil, fmt.Errorf("footer of %s: %w", e.Object, err)
	}
	blocks := make([]segment.IndexEntry, 0, len(all))
	for _, b := range all {
		if b.TopicID == e.TopicID && b.Partition == e.Partition && b.LastOffset >= e.BaseOffset && b.BaseOffset <= e.LastOffset {
			b.Object = e.Object
			blocks = append(blocks, b)
		}
	}
	return blocks, nil
}

var errStopIteration = errors.New("stop iteration")

// verifyClaim drops p, and reports so, when the index holds a revision of it
// or the WAL a message of it that this gateway did not write: its claim was
// superseded and what it holds is stale. It checks at most once per
// VerifyInterval, when the Log's VerifyRate has room (a partition that
// finds none stays due for its next read), and each store only while this gateway has nothing in
// flight to it, whose write would look like another writer's.
func (l *Log) verifyClaim(ctx context.Context, p *partition) bool {
	now := l.cfg.Now()
	p.mu.Lock()
	due := now.Sub(p.verifiedAt) >= l.cfg.VerifyInterval && l.verifies.AllowN(now, 1)
	if due {
		p.verifiedAt = now
	}
	rev, walLast := p.rev, p.walLast
	p.mu.Unlock()
	if !due {
		return false
	}
	if p.indexIdle(rev) {
		if cur, err := l.cfg.Index.PartitionRevision(ctx, p.tp); err == nil && cur != rev && p.indexIdle(rev) {
			return l.reloadStale(p, "index", rev, cur)
		}
	}
	if l.cfg.WAL != nil && l.writer == nil && p.walIdle(walLast) {
		if cur, err := l.cfg.WAL.LastSeq(ctx, walPartition(p.tp)); err == nil && cur != walLast && p.walIdle(walLast) {
			return l.reloadStale(p, "wal", rev, cur)
		}
	}
	return false
}

// indexIdle reports that no commit of p's is pending and its revision is rev.
func (p *partition) indexIdle(rev uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rev == rev && len(p.inflight) == 0 && len(p.queued) == 0
}

// walIdle reports that no WAL append of p's is pending and its last
// sequence is seq.
func (p *partition) walIdle(seq uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.walLast == seq && !p.walSending
}

func (l *Log) reloadStale(p *partition, store string, have, stored uint64) bool {
	l.cfg.Logger.Info("partition written by another gateway; reloading", "partition", p.tp.Partition, "store", store, "have", have, "stored", stored)
	l.drop(p, p.failQueued(ErrNotLeader))
	return true
}

// block returns a segment block through the cache, with one ranged GET on a miss.
func (l *Log) block(ctx context.Context, e segment.IndexEntry) ([]byte, error) {
	b, _, err := l.blockMissed(ctx, e)
	return b, err
}

// blockMissed is block, also reporting whether this call fetched it.
func (l *Log) blockMissed(ctx context.Context, e segment.IndexEntry) ([]byte, bool, error) {
	missed := false
	b, err := l.cache.Get(ctx, blockKey(e), func(ctx context.Context) ([]byte, error) {
		missed = true
		l.metrics.cacheMisses.Inc()
		return l.getRange(ctx, e.Object, e.Position, e.Length)
	})
	return b, missed, err
}

// getRange reads length bytes of key from off (length < 0: to the end).
func (l *Log) getRange(ctx context.Context, key string, off, length int64) ([]byte, error) {
	rc, err := l.cfg.Bucket.GetRange(ctx, key, off, length)
	if err != nil {
		return nil, fmt.Errorf("get %s [%d, +%d): %w", key, off, length, err)
	}
	var b []byte
	if length >= 0 {
		b = make([]byte, length)
		_, err = io.ReadFull(rc, b)
	} else {
		b, err = io.ReadAll(io.LimitReader(rc, maxFooterRead))
	}
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("read %s [%d, +%d): %w", key, off, length, err)
	}
	return b, nil
}

// maxFooterRead bounds the suffix read for a footer: the largest footer the
// format allows plus its trailer.
const maxFooterRead = segment.MaxFooterLength + segment.TrailerSize

// Offsets are a partition's offsets at one moment.
type Offsets struct {
	LogStart, HighWatermark, LastStable int64
}

func (s snapshot) offsets() Offsets {
	return Offsets{LogStart: s.committed.LogStartOffset, HighWatermark: s.highWatermark, LastStable: s.lastStable}
}

// Offsets returns the partition's log start offset, high watermark and last
// stable offset.
func (l *Log) Offsets(ctx context.Context, tp index.TopicPartition) (Offsets, error) {
	p, err := l.partition(ctx, tp)
	if err != nil {
		return Offsets{}, err
	}
	return p.head().offsets(), nil
}

// Watch returns a channel that is closed when the partition's high watermark
// next moves. Long polls select on it instead of polling.
func (l *Log) Watch(ctx context.Context, tp index.TopicPartition) (<-chan struct{}, error) {
	p, err := l.partition(ctx, tp)
	if err != nil {
		return nil, err
	}
	return p.watch(), nil
}

// Special timestamps of ListOffsets (the Java client's ListOffsetsRequest).
const (
	// TimestampMax asks for the record with the largest timestamp (KIP-734).
	TimestampMax = -3
)

// OffsetForTimestamp returns the offset and timestamp of the first record whose
// timestamp is at or after ts, or with ts == TimestampMax the record with the
// largest timestamp. found is false when no record qualifies.
func (l *Log) OffsetForTimestamp(ctx context.Context, tp index.TopicPartition, ts int64) (offset, timestamp int64, found bool, err error) {
	p, err := l.partition(ctx, tp)
	if err != nil {
		return 0, 0, false, err
	}
	s := p.snapshot()
	st := s.committed
	entries := st.Entries
	if ts == TimestampMax {
		// The first record with the largest timestamp, in the segments or
		// in the tail after them.
		best, bestTail := -1, -1
		maxTs := int64(-1 << 63)
		for i, e := range entries {
			if e.LastOffset >= st.LogStartOffset && (best < 0 || e.MaxTimestamp > maxTs) {
				best, maxTs = i, e.MaxTimestamp
			}
		}
		for i, tb := range s.tail {
			if (best < 0 && bestTail < 0) || tb.h.MaxTimestamp > maxTs {
				bestTail, maxTs = i, tb.h.MaxTimestamp
			}
		}
		switch {
		case bestTail >= 0:
			return scanForTimestamp(s.tail[bestTail].data, maxTs, st.LogStartOffset)
		case best >= 0:
			return l.scanBlockForTimestamp(ctx, entries[best], maxTs, st.LogStartOffset)
		}
		return 0, 0, false, nil
	}
	// Timestamps are not monotonic across entries, so the first entry whose
	// max reaches ts is where the answer starts.
	for i, e := range entries {
		if e.LastOffset < st.LogStartOffset || e.MaxTimestamp < ts {
			continue
		}
		for _, e := range entries[i:] {
			off, t, ok, err := l.scanBlockForTimestamp(ctx, e, ts, st.LogStartOffset)
			if err != nil || ok {
				return off, t, ok, err
			}
		}
		break
	}
	for _, tb := range s.tail {
		if tb.h.MaxTimestamp >= ts {
			if off, t, ok, err := scanForTimestamp(tb.data, ts, st.LogStartOffset); err != nil || ok {
				return off, t, ok, err
			}
		}
	}
	return 0, 0, false, nil
}

// scanBlockForTimestamp finds the first record in e's block at or after
// startOffset with a timestamp at or after ts.
func (l *Log) scanBlockForTimestamp(ctx context.Context, e segment.IndexEntry, ts, startOffset int64) (offset, timestamp int64, found bool, err error) {
	blocks, err := l.blocksOf(ctx, e)
	if err != nil {
		return 0, 0, false, err
	}
	for _, e := range blocks {
		if e.MaxTimestamp < ts || e.LastOffset < startOffset {
			continue
		}
		block, err := l.block(ctx, e)
		if err != nil {
			return 0, 0, false, err
		}
		offset, timestamp, found, err = scanForTimestamp(block, ts, startOffset)
		if err != nil {
			return 0, 0, false, fmt.Errorf("scan block of %s at %d: %w", e.Object, e.Position, err)
		}
		if found {
			return offset, timestamp, true, nil
		}
	}
	return 0, 0, false, nil
}

// scanForTimestamp finds the first record in batches at or after startOffset
// with a timestamp at or after ts.
func scanForTimestamp(batches []byte, ts, startOffset int64) (offset, timestamp int64, found bool, err error) {
	err = batch.Each(batches, func(b []byte, h batch.Header) error {
		if h.MaxTimestamp < ts || h.LastOffset() < startOffset {
			return nil
		}
		return batch.EachRecord(b, maxDecompressedBatch, func(r batch.Record) error {
			if r.Offset >= startOffset && r.Timestamp >= ts {
				offset, timestamp, found = r.Offset, r.Timestamp, true
				return errStopIteration
			}
			return nil
		})
	})
	if err != nil && !errors.Is(err, errStopIteration) {
		return 0, 0, false, err
	}
	return offset, timestamp, found, nil
}

// LeaderEpoch returns the leader epoch this log holds tp at, claiming it on
// first use.
func (l *Log) LeaderEpoch(ctx context.Context, tp index.TopicPartition) (int32, error) {
	p, err := l.partition(ctx, tp)
	if err != nil {
		return 0, err
	}
	return p.head().committed.LeaderEpoch, nil
}

// LoadedEpoch returns the leader epoch tp is held at if it is loaded here
// (its load has finished); unlike LeaderEpoch it never loads or waits.
func (l *Log) LoadedEpoch(tp index.TopicPartition) (int32, bool) {
	l.mu.Lock()
	p, ok := l.parts[tp]
	l.mu.Unlock()
	if !ok {
		return 0, false
	}
	select {
	case <-p.loaded:
	default:
		return 0, false
	}
	if p.loadErr != nil {
		return 0, false
	}
	return p.head().committed.LeaderEpoch, true
}

// EndOffsetFor answers OffsetForLeaderEpoch for tp (index.Partition.EndOffsetFor).
func (l *Log) EndOffsetFor(ctx context.Context, tp index.TopicPartition, epoch int32) (leaderEpoch int32, endOffset int64, err error) {
	p, err := l.partition(ctx, tp)
	if err != nil {
		return 0, 0, err
	}
	s := p.head()
	st := s.committed
	st.HighWatermark = s.highWatermark
	leaderEpoch, endOffset = st.EndOffsetFor(epoch)
	return leaderEpoch, endOffset, nil
}
