package tiered

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/segment"
)

// Read-ahead of cold reads. A consumer catching up on old data reads one
// block after another; fetched one GET at a time, each fetch waits a full
// object-store round trip. Once a read of a partition misses the block cache
// below the committed high watermark, the prefetcher fetches the blocks that
// follow into the cache in the background, up to Config.PrefetchBytes ahead
// of the reader (less at first, and less when several partitions are read
// ahead: see allowanceLocked), adjacent blocks of one object with one ranged
// GET (up to prefetchMaxGet, and a quarter of the partition's allowance),
// at most Config.PrefetchGets GETs at a time over all partitions, and at
// most a quarter of the cache's budget fetched ahead and not yet passed by
// a reader, so that it cannot flush the cache of what tail readers use; a
// partition short only of that limit waits for other readers to pass what
// was fetched for them. A read that misses starts the read-ahead from the
// block after the missing one before fetching it. It follows the reader as long as the reader keeps
// reading what it fetched, and forgets the partition once the reader reads
// warm blocks it did not fetch. Reads of the WAL tail never start it, and a
// read never waits for it: a block being prefetched is shared through the
// cache's single flight, anything else is fetched by the read as before.
type prefetcher struct {
	l      *Log
	window int64
	limit  int64
	gets   chan struct{}
	wg     sync.WaitGroup

	mu sync.Mutex
	// room is signalled when bytes fetched ahead are given back (a reader
	// passed them, a partition was dropped) or the prefetcher closes.
	room      *sync.Cond
	closed    bool
	ahead     int64 // bytes fetched ahead and not yet passed, all partitions
	parts     map[index.TopicPartition]*readAhead
	lastSweep time.Time
}

// prefetchIdle is how long a partition's read-ahead outlives its last
// read: a consumer that stopped gives its share of the limit back.
const prefetchIdle = time.Minute

// prefetchMaxGet caps one coalesced GET.
const prefetchMaxGet = 8 << 20

// readAhead is one partition's read-ahead.
type readAhead struct {
	running bool
	used    time.Time // the last read told of
	// to is where the next prefetch starts: offsets below it are cached,
	// being fetched, or were skipped.
	to int64
	// pending is what was fetched ahead and not yet passed by the reader,
	// in offset order; passed is how many bytes of it the reader has
	// passed so far.
	pending []aheadRange
	passed  int64
}

type aheadRange struct {
	last  int64
	bytes int64
}

func newPrefetcher(l *Log) *prefetcher {
	if l.cfg.PrefetchBytes <= 0 || l.cfg.PrefetchGets <= 0 {
		return nil
	}
	pf := &prefetcher{
		l:      l,
		window: l.cfg.PrefetchBytes,
		limit:  max(l.cfg.CacheBytes/4, 0),
		gets:   make(chan struct{}, l.cfg.PrefetchGets),
		parts:  make(map[index.TopicPartition]*readAhead),
	}
	pf.room = sync.NewCond(&pf.mu)
	return pf
}

// after is told of every read that went to committed blocks: it read up to
// next (exclusive) from st, and missed the cache or not.
func (pf *prefetcher) after(tp index.TopicPartition, st index.Partition, next int64, missed bool) {
	if pf == nil {
		return
	}
	pf.mu.Lock()
	defer pf.mu.Unlock()
	if pf.closed {
		return
	}
	now := pf.l.cfg.Now()
	if now.Sub(pf.lastSweep) > prefetchIdle/4 {
		pf.lastSweep = now
		pf.dropLocked(func(_ index.TopicPartition, ra *readAhead) bool { return ra.running || now.Sub(ra.used) < prefetchIdle })
	}
	ra := pf.parts[tp]
	if ra == nil {
		if !missed {
			return
		}
		ra = &readAhead{to: next}
		pf.parts[tp] = ra
	}
	ra.used = now
	if len(ra.pending) > 0 && ra.pending[0].last < next {
		for len(ra.pending) > 0 && ra.pending[0].last < next {
			pf.ahead -= ra.pending[0].bytes
			ra.passed += ra.pending[0].bytes
			ra.pending = ra.pending[1:]
		}
		pf.room.Broadcast()
	}
	if !missed && !ra.running && len(ra.pending) == 0 && ra.to <= next {
		delete(pf.parts, tp) // the reader is past all of it and reads warm
		return
	}
	if ra.running || next >= st.HighWatermark {
		return
	}
	ra.running = true
	from := max(ra.to, next)
	pf.wg.Add(1)
	go func() {
		defer pf.wg.Done()
		pf.run(tp, st, from, ra)
	}()
}

// run schedules GETs of st's blocks from offset from while the partition's
// allowance allows, waiting for room under the global limit.
func (pf *prefetcher) run(tp index.TopicPartition, st index.Partition, from int64, ra *readAhead) {
	ctx := pf.l.ctx
	defer func() {
		pf.mu.Lock()
		ra.running = false
		pf.mu.Unlock()
	}()
	var group []segment.IndexEntry
	var groupBytes int64
	// flush starts the group's GET, once the partition's allowance and
	// the limit have room; false means the partition has no room (or was
	// dropped), and the run ends. While only the limit is short, it waits
	// for the readers of other partitions to pass what was fetched for
	// them: ending the run instead left the partition without read-ahead
	// until its own reader's next read, which then missed (seen in
	// BenchmarkColdRead).
	flush := func() bool {
		if len(group) == 0 {
			return true
		}
		g, n := group, groupBytes
		group, groupBytes = nil, 0
		pf.mu.Lock()
		for {
			used := int64(0)
			for _, p := range ra.pending {
				used += p.bytes
			}
			if pf.closed || pf.parts[tp] != ra || used+n > pf.window || used > 0 && used+n > pf.allowanceLocked(ra) ||
				pf.ahead+n > pf.limit && (used > 0 && pf.ahead == used || n > pf.limit) {
				pf.mu.Unlock()
				return false
			}
			if pf.ahead+n <= pf.limit {
				break
			}
			pf.room.Wait()
		}
		pf.ahead += n
		// Per block, not per GET: the reader gives back what it passed
		// block by block, so the next GET can start before it finishes
		// this one's last block.
		for _, b := range g {
			ra.pending = append(ra.pending, aheadRange{last: b.LastOffset, bytes: b.Length})
		}
		ra.to = g[len(g)-1].LastOffset + 1
		pf.mu.Unlock()
		select {
		case pf.gets <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		pf.wg.Add(1)
		go func() {
			defer pf.wg.Done()
			defer func() { <-pf.gets }()
			pf.fetch(ctx, g, n)
		}()
		return true
	}
	// A GET of at most a quarter of the partition's allowance, so that a
	// few are in flight for it at once and the next starts while the
	// reader is still in the last: with GETs of the whole allowance the
	// next could only start once the reader had passed the previous one,
	// and the reader then missed the cache.
	pf.mu.Lock()
	maxGet := min(prefetchMaxGet, pf.allowanceLocked(ra)/4)
	pf.mu.Unlock()
	entries := st.Entries
	for i := sort.Search(len(entries), func(i int) bool { return entries[i].LastOffset >= from }); i < len(entries); i++ {
		blocks, err := pf.l.blocksOf(ctx, entries[i])
		if err != nil {
			return
		}
		for _, b := range blocks {
			if b.LastOffset < from {
				continue
			}
			if pf.l.cache.Contains(blockKey(b)) {
				if !flush() {
					return
				}
				pf.mu.Lock()
				ra.to = max(ra.to, b.LastOffset+1)
				pf.mu.Unlock()
				continue
			}
			if n := len(group); n > 0 {
				prev := group[n-1]
				if prev.Object != b.Object || prev.Position+prev.Length != b.Position || groupBytes+b.Length > maxGet {
					if !flush() {
						return
					}
				}
			}
			group = append(group, b)
			groupBytes += b.Length
		}
	}
	flush()
}

// prefetchStart is how far ahead a partition's read-ahead starts; it
// doubles as the reader passes what was fetched, up to the partition's
// share (allowanceLocked).
const prefetchStart = 8 << 20

// allowanceLocked is how far ahead ra's partition may be fetched: the
// window, or less while the reader has passed little of what was fetched
// (twice what it passed, at least prefetchStart), or while other
// partitions are read ahead too (an equal part of the limit). A consumer
// reads its partitions side by side, a little of each per fetch: without
// the ramp and the equal parts, the first partition it reads takes the
// window at once, the second the rest of the limit, and the others miss
// the cache on every read until the first ones' read-ahead is passed (seen
// in BenchmarkColdRead, 6 partitions: a fifth of a cold consumer's time went
// to such misses). A partition with nothing pending may always fetch one
// group, so that every reader keeps a GET ahead.
func (pf *prefetcher) allowanceLocked(ra *readAhead) int64 {
	share := pf.limit / int64(max(len(pf.parts), 1))
	return min(pf.window, share, max(prefetchStart, 2*ra.passed))
}

// fetch GETs the adjacent blocks g, n bytes in all, into the cache.
func (pf *prefetcher) fetch(ctx context.Context, g []segment.IndexEntry, n int64) {
	keys := make([]string, len(g))
	for i, b := range g {
		keys[i] = blockKey(b)
	}
	_, err := pf.l.cache.LoadMany(ctx, keys, func(ctx context.Context) ([][]byte, error) {
		data, err := pf.l.getRange(ctx, g[0].Object, g[0].Position, n)
		if err != nil {
			return nil, err
		}
		blocks := make([][]byte, len(g))
		off := int64(0)
		for i, b := range g {
			blocks[i] = data[off : off+b.Length : off+b.Length]
			if err := segment.CheckBlock(blocks[i], b); err != nil {
				return nil, err
			}
			off += b.Length
		}
		pf.l.metrics.prefetchGets.Inc()
		pf.l.metrics.prefetchBytes.Add(float64(n))
		return blocks, nil
	})
	if err != nil && ctx.Err() == nil {
		// The reader fetches the block itself and reports what fails.
		pf.l.cfg.Logger.Debug("prefetch failed", "object", g[0].Object, "err", err)
	}
}

// forget drops the read-ahead of partitions keep rejects.
func (pf *prefetcher) forget(keep func(index.TopicPartition) bool) {
	if pf == nil {
		return
	}
	pf.mu.Lock()
	defer pf.mu.Unlock()
	pf.dropLocked(func(tp index.TopicPartition, _ *readAhead) bool { return keep(tp) })
}

// dropLocked drops the read-ahead of partitions keep rejects and gives back
// their share of the limit. A run still going only ends early.
func (pf *prefetcher) dropLocked(keep func(index.TopicPartition, *readAhead) bool) {
	for tp, ra := range pf.parts {
		if !keep(tp, ra) {
			for _, p := range ra.pending {
				pf.ahead -= p.bytes
			}
			ra.pending = nil
			delete(pf.parts, tp)
		}
	}
	pf.room.Broadcast()
}

// close stops new read-ahead and waits for what runs; the Log's context,
// cancelled first, ends their GETs.
func (pf *prefetcher) close() {
	if pf == nil {
		return
	}
	pf.mu.Lock()
	pf.closed = true
	pf.room.Broadcast()
	pf.mu.Unlock()
	pf.wg.Wait()
}
