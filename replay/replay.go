package replay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/tiered/batch"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/segment"
)

// Defaults of Options' zero fields.
const (
	DefaultConcurrency      = 16
	DefaultMaxGetBytes      = 8 << 20
	DefaultMaxBufferedBytes = 256 << 20
)

const (
	// aheadPerPartition bounds the GETs one partition has planned and not
	// yet delivered, so that one partition cannot hold the whole buffer
	// while the others wait.
	aheadPerPartition = 8
	// staleRetries is how often a partition reloads its index when an
	// object it names is gone (merged or compacted away and collected since
	// the index was read) before the replay fails.
	staleRetries = 3
	// maxDecompressed caps one batch's decompressed records: Kafka's
	// message.max.bytes ceiling, with room for compression ratios.
	maxDecompressed = 64 << 20
)

// Index is the coordinator's side of a replay: the topic and each
// partition's committed index. *coordinator.Store implements it.
type Index interface {
	LoadTopic(ctx context.Context, name string) (coordinator.Topic, error)
	LoadPartition(ctx context.Context, tp index.TopicPartition) (index.Partition, uint64, error)
}

// Options selects what a replay reads and how hard it pulls.
type Options struct {
	// Topic is the topic's name. Required.
	Topic string
	// Partitions are the partitions to read; empty reads all of them.
	Partitions []int32
	// FromOffset is the first offset to read (below the log start: the log
	// start). ToOffset, when positive, is the offset to stop before
	// (beyond the high watermark: the high watermark).
	FromOffset, ToOffset int64
	// From, when set, starts each partition at its first record with a
	// timestamp at or after it; To, when set, stops each before its first
	// record at or after it (see the package doc).
	From, To time.Time
	// ReadCommitted leaves out the records of aborted transactions.
	ReadCommitted bool
	// Concurrency is how many GETs may be in flight at once, over all
	// partitions. Default DefaultConcurrency.
	Concurrency int
	// MaxGetBytes is the most one coalesced GET asks for (a single larger
	// block is fetched whole). Default DefaultMaxGetBytes.
	MaxGetBytes int64
	// MaxBufferedBytes bounds what has been fetched and not yet delivered.
	// Default DefaultMaxBufferedBytes.
	MaxBufferedBytes int64
	// ReuseBuffers makes a record's Key, Value and header values valid only
	// until emit returns, instead of emit's to keep: each partition then
	// decompresses its batches into one buffer it reuses, rather than a
	// new one per batch that the runtime must clear and collect (about a
	// fifth of a replay's CPU time with snappy batches in
	// BenchmarkColdRead). Set it when emit copies what it keeps (a
	// formatter writing to a buffer, a Parquet writer); leave it unset
	// when emit hands the slices on (to a producer, say).
	ReuseBuffers bool
}

// Record is one record read back, as a consumer would have fetched it.
type Record struct {
	Partition int32
	Offset    int64
	// Timestamp is in Unix milliseconds; LogAppendTime says it was set by
	// the gateway at append (Kafka's LogAppendTime) rather than by the
	// producer.
	Timestamp     int64
	LogAppendTime bool
	// Key and Value are nil when null.
	Key, Value []byte
	Headers    []batch.RecordHeader
}

// Progress is a replay's progress so far.
type Progress struct {
	// PlannedBytes is what the GETs planned so far will read in all;
	// Planned says every partition has been planned, so it is the total.
	PlannedBytes int64
	Planned      bool
	// ReadBytes is what has been fetched, Records what has been delivered.
	ReadBytes int64
	Records   int64
}

// Replayer reads one topic from object storage. Run it once.
type Replayer struct {
	index  Index
	bucket objstore.Bucket
	opts   Options

	gets   *semaphore.Weighted
	buffer *semaphore.Weighted

	emitMu sync.Mutex

	plannedBytes atomic.Int64
	planning     atomic.Int64 // partitions not yet planned
	readBytes    atomic.Int64
	records      atomic.Int64
}

// New returns a Replayer reading with idx and bucket.
func New(idx Index, bucket objstore.Bucket, opts Options) *Replayer {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.MaxGetBytes <= 0 {
		opts.MaxGetBytes = DefaultMaxGetBytes
	}
	if opts.MaxBufferedBytes <= 0 {
		opts.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	r := &Replayer{
		index:  idx,
		bucket: bucket,
		opts:   opts,
		gets:   semaphore.NewWeighted(int64(opts.Concurrency)),
		buffer: semaphore.NewWeighted(opts.MaxBufferedBytes),
	}
	r.planning.Store(-1)
	return r
}

// Progress returns the replay's progress; it is safe to call while Run runs.
func (r *Replayer) Progress() Progress {
	return Progress{
		PlannedBytes: r.plannedBytes.Load(),
		Planned:      r.planning.Load() == 0,
		ReadBytes:    r.readBytes.Load(),
		Records:      r.records.Load(),
	}
}

// Run reads the topic and calls emit with every record selected, in offset
// order per partition. emit is never called concurrently; the record's
// slices are emit's to keep, or with Options.ReuseBuffers valid until it
// returns. Run stops at and returns the first error, emit's included.
func (r *Replayer) Run(ctx context.Context, emit func(Record) error) error {
	if r.opts.Topic == "" {
		return errors.New("replay: no topic given")
	}
	t, err := r.index.LoadTopic(ctx, r.opts.Topic)
	if err != nil {
		return fmt.Errorf("replay: topic %s: %w", r.opts.Topic, err)
	}
	parts := r.opts.Partitions
	if len(parts) == 0 {
		for p := range t.Partitions {
			parts = append(parts, p)
		}
	}
	cursors := make([]*cursor, len(parts))
	for i, p := range parts {
		if p < 0 || p >= t.Partitions {
			return fmt.Errorf("replay: topic %s has partitions 0-%d, not %d", t.Name, t.Partitions-1, p)
		}
		tp, _ := t.Partition(p)
		cursors[i] = &cursor{tp: tp, from: r.opts.From, to: r.opts.To, readCommitted: r.opts.ReadCommitted, end: -1}
	}
	r.planning.Store(int64(len(parts)))
	for attempt := 0; ; attempt++ {
		plans, err := r.planAll(ctx, cursors)
		if err == nil {
			err = r.fetchAndDeliver(ctx, order(plans, r.opts.MaxGetBytes), cursors, emit)
		}
		// An object that is gone was merged or compacted away and
		// collected since the index was read: read the index again and
		// go on from where each partition stands.
		if err == nil || !errors.Is(err, objstore.ErrNotExist) || attempt == staleRetries {
			return err
		}
	}
}

// planAll loads every partition's index and returns, per cursor, the blocks
// from where it stands to its end, in offset order. The first load sets each
// cursor's start and end.
func (r *Replayer) planAll(ctx context.Context, cursors []*cursor) ([][]segment.IndexEntry, error) {
	plans := make([][]segment.IndexEntry, len(cursors))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Concurrency)
	for i, cur := range cursors {
		g.Go(func() error {
			p, _, err := r.index.LoadPartition(ctx, cur.tp)
			if err != nil {
				return fmt.Errorf("replay: partition %d: load index: %w", cur.tp.Partition, err)
			}
			first := cur.end < 0
			if first {
				cur.next = max(r.opts.FromOffset, p.LogStartOffset)
				cur.end = p.HighWatermark
				if r.opts.ToOffset > 0 {
					cur.end = min(cur.end, r.opts.ToOffset)
				}
			}
			cur.setAborted(p.Aborted)
			plans[i], err = r.plan(ctx, p, cur)
			if first {
				r.planning.Add(-1)
			}
			return err
		})
	}
	return plans, g.Wait()
}

// plan returns p's blocks from cur.next up to cur.end.
func (r *Replayer) plan(ctx context.Context, p index.Partition, cur *cursor) ([]segment.IndexEntry, error) {
	var blocks []segment.IndexEntry
	fromMs := int64(-1)
	if !cur.from.IsZero() && !cur.started {
		fromMs = cur.from.UnixMilli()
	}
	for _, e := range p.Entries {
		if e.LastOffset < cur.next || e.BaseOffset >= cur.end {
			continue
		}
		if fromMs >= 0 && e.MaxTimestamp < fromMs {
			continue // every record in it is older than From
		}
		fromMs = -1 // from here on every entry is read
		bs, err := r.blocksOf(ctx, e)
		if err != nil {
			return nil, err
		}
		for _, b := range bs {
			if b.LastOffset >= cur.next && b.BaseOffset < cur.end {
				blocks = append(blocks, b)
			}
		}
	}
	return blocks, nil
}

// get is one ranged GET and the blocks it holds, each with the index of
// the cursor it belongs to.
type get struct {
	object string
	off    int64
	length int64
	blocks []segment.IndexEntry
	owners []int
}

// order turns the partitions' block lists into GETs whose order keeps each
// partition's blocks in offset order, and which fetch together the blocks
// of different partitions that lie side by side in one object (a flush
// writes every partition's block of it into one object): each step takes
// the object holding the most partitions' next blocks, and every next block
// in it, again and again while it holds any, coalescing adjacent ones into
// GETs of up to maxGet bytes.
func order(plans [][]segment.IndexEntry, maxGet int64) []get {
	heads := make([]int, len(plans))
	var gets []get
	for {
		count := map[string]int{}
		best := ""
		for i, blocks := range plans {
			if heads[i] == len(blocks) {
				continue
			}
			o := blocks[heads[i]].Object
			count[o]++
			if best == "" || count[o] > count[best] || (count[o] == count[best] && o < best) {
				best = o
			}
		}
		if best == "" {
			return gets
		}
		type owned struct {
			b     segment.IndexEntry
			owner int
		}
		var taken []owned
		for more := true; more; {
			more = false
			for i, blocks := range plans {
				if heads[i] < len(blocks) && blocks[heads[i]].Object == best {
					taken = append(taken, owned{blocks[heads[i]], i})
					heads[i]++
					more = true
				}
			}
		}
		slices.SortStableFunc(taken, func(a, b owned) int { return cmp.Compare(a.b.Position, b.b.Position) })
		first := len(gets)
		for _, t := range taken {
			if n := len(gets); n > first {
				g := &gets[n-1]
				if g.off+g.length == t.b.Position && g.length+t.b.Length <= maxGet {
					g.length += t.b.Length
					g.blocks = append(g.blocks, t.b)
					g.owners = append(g.owners, t.owner)
					continue
				}
			}
			gets = append(gets, get{object: best, off: t.b.Position, length: t.b.Length,
				blocks: []segment.IndexEntry{t.b}, owners: []int{t.owner}})
		}
	}
}

// blocksOf returns the blocks e stands for: e itself, or for a merged
// per-partition segment (e.Whole) its blocks from the object's footer.
func (r *Replayer) blocksOf(ctx context.Context, e segment.IndexEntry) ([]segment.IndexEntry, error) {
	if !e.Whole {
		return []segment.IndexEntry{e}, nil
	}
	end := e.Position + e.Length // the footer follows the blocks
	suffix, err := r.read(ctx, e.Object, end, -1)
	if err != nil {
		return nil, fmt.Errorf("replay: partition %d: footer of %s: %w", e.Partition, e.Object, err)
	}
	t, err := segment.DecodeTrailer(suffix)
	if err != nil {
		return nil, fmt.Errorf("replay: partition %d: footer of %s: %w", e.Partition, e.Object, err)
	}
	footerStart := int64(len(suffix)) - t.IndexSize()
	if footerStart < 0 {
		return nil, fmt.Errorf("replay: partition %d: footer of %s: %d bytes after the blocks, index of %d: %w",
			e.Partition, e.Object, len(suffix), t.IndexSize(), segment.ErrCorrupt)
	}
	all, err := segment.DecodeFooter(suffix[footerStart:footerStart+int64(t.FooterLength)], t, end+int64(len(suffix)))
	if err != nil {
		return nil, fmt.Errorf("replay: partition %d: footer of %s: %w", e.Partition, e.Object, err)
	}
	var blocks []segment.IndexEntry
	for _, b := range all {
		if b.TopicID == e.TopicID && b.Partition == e.Partition && b.LastOffset >= e.BaseOffset && b.BaseOffset <= e.LastOffset {
			b.Object = e.Object
			blocks = append(blocks, b)
		}
	}
	return blocks, nil
}

// fetched is a GET started ahead of its delivery. Its body is read block by
// block, and each block is handed to its partition as soon as it is in, so
// that decoding starts while the rest of the GET (and the GETs after it)
// still arrive: with whole-GET delivery, 16 GETs of 8 MiB sharing the
// store's bandwidth left every partition idle until 128 MiB had arrived.
// Its bytes are given back to the buffer once every block in it has been
// delivered.
type fetched struct {
	get
	// arrived has one channel per block, receiving nil once the block's
	// bytes are in data, or the error that kept them from arriving.
	arrived  []chan error
	done     chan struct{} // closed when the GET's goroutine has returned
	data     []byte        // the GET's bytes; set before the first block arrives
	reserved int64
	pending  atomic.Int32
}

// blockWork is one block of a fetched GET, for its partition's worker.
type blockWork struct {
	f     *fetched
	block segment.IndexEntry
	data  []byte
}

// aheadGets bounds the GETs started and not yet handed to the partitions,
// with the buffer's byte bound.
const aheadGets = 64

// fetchAndDeliver runs gets in order, many at a time, and hands each block
// to its partition's worker, which delivers the blocks of its partition one
// after another: per partition in offset order, partitions in parallel.
func (r *Replayer) fetchAndDeliver(ctx context.Context, gets []get, cursors []*cursor, emit func(Record) error) error {
	for _, g := range gets {
		r.plannedBytes.Add(g.length)
	}
	g, ctx := errgroup.WithContext(ctx)
	work := make([]chan blockWork, len(cursors))
	for i, cur := range cursors {
		work[i] = make(chan blockWork, aheadPerPartition)
		g.Go(func() error {
			dec := batch.NewDecoder(maxDecompressed)
			if r.opts.ReuseBuffers {
				dec = batch.NewScratchDecoder(maxDecompressed)
			}
			defer dec.Close()
			var err error
			for w := range work[i] {
				if err == nil {
					err = r.deliver(w, cur, dec, emit)
					if errors.Is(err, errDone) {
						err = nil
						cur.done = true
					}
				}
				r.blockDone(w.f, 1)
			}
			return err
		})
	}
	ahead := make(chan *fetched, aheadGets)
	var fetches sync.WaitGroup
	defer fetches.Wait()
	g.Go(func() error {
		defer close(ahead)
		for _, gt := range gets {
			f := &fetched{get: gt, done: make(chan struct{}), reserved: min(gt.length, r.opts.MaxBufferedBytes)}
			f.arrived = make([]chan error, len(gt.blocks))
			for i := range f.arrived {
				f.arrived[i] = make(chan error, 1)
			}
			f.pending.Store(int32(len(gt.blocks)))
			if err := r.buffer.Acquire(ctx, f.reserved); err != nil {
				return err
			}
			fetches.Add(1)
			go func() {
				defer fetches.Done()
				defer close(f.done)
				r.fetch(ctx, f)
			}()
			select {
			case ahead <- f:
			case <-ctx.Done():
				<-f.done
				r.buffer.Release(f.reserved)
				return ctx.Err()
			}
		}
		return nil
	})
	g.Go(func() error {
		defer func() {
			for _, w := range work {
				close(w)
			}
		}()
		for f := range ahead {
			for i, b := range f.blocks {
				if err := <-f.arrived[i]; err != nil {
					err = fmt.Errorf("replay: partition %d (offsets %d-%d): %w", b.Partition, b.BaseOffset, b.LastOffset, err)
					r.blockDone(f, len(f.blocks)-i) // the blocks never handed out
					for f := range ahead {          // give back what was fetched ahead
						<-f.done
						r.buffer.Release(f.reserved)
					}
					return err
				}
				at := b.Position - f.off
				select {
				case work[f.owners[i]] <- blockWork{f: f, block: b, data: f.data[at : at+b.Length : at+b.Length]}:
				case <-ctx.Done():
					r.blockDone(f, 1)
				}
			}
		}
		return nil
	})
	return g.Wait()
}

// fetch runs f's GET and reads its body block by block, telling of each on
// f.arrived. A body shorter or longer than the range asked for is
// corruption: the index says what the object holds there.
func (r *Replayer) fetch(ctx context.Context, f *fetched) {
	next := 0 // the first block not yet told of
	fail := func(err error) {
		for ; next < len(f.arrived); next++ {
			f.arrived[next] <- err
		}
	}
	if err := r.gets.Acquire(ctx, 1); err != nil {
		fail(err)
		return
	}
	defer r.gets.Release(1)
	rc, err := r.bucket.GetRange(ctx, f.object, f.off, f.length)
	if err != nil {
		fail(err) // the store's errors name the object
		return
	}
	defer rc.Close()
	f.data = make([]byte, f.length)
	short := func(n int64) error {
		return fmt.Errorf("%s: %d bytes at %d, the index says %d: %w", f.object, n, f.off, f.length, segment.ErrCorrupt)
	}
	read := int64(0)
	for i, b := range f.blocks {
		end := b.Position - f.off + b.Length
		n, err := io.ReadFull(rc, f.data[read:end])
		read += int64(n)
		r.readBytes.Add(int64(n))
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = short(read)
		}
		if err != nil {
			fail(fmt.Errorf("get %s at %d: %w", f.object, f.off, err))
			return
		}
		if i == len(f.blocks)-1 {
			// Check for bytes beyond the range before telling of the
			// last block, after which f.data is the workers'.
			var extra [1]byte
			if n, _ := io.ReadFull(rc, extra[:]); n > 0 {
				fail(short(read + int64(n)))
				return
			}
		}
		f.arrived[i] <- nil
		next = i + 1
	}
}

// blockDone counts n of f's blocks delivered (or given up), and gives f's
// bytes back to the buffer after the last.
func (r *Replayer) blockDone(f *fetched, n int) {
	if f.pending.Add(-int32(n)) == 0 {
		r.buffer.Release(f.reserved)
	}
}

// errDone stops a partition that reached its end within a block.
var errDone = errors.New("replay: partition done")

// deliver checks one block of a GET and emits its selected records.
func (r *Replayer) deliver(w blockWork, cur *cursor, dec *batch.Decoder, emit func(Record) error) error {
	if cur.done {
		return nil
	}
	f, b, block := w.f, w.block, w.data
	if err := segment.CheckBlock(block, b); err != nil {
		return fmt.Errorf("replay: partition %d: %s at byte %d (offsets %d-%d): %w",
			cur.tp.Partition, f.object, b.Position, b.BaseOffset, b.LastOffset, err)
	}
	pos := b.Position
	var recs []Record
	return batch.Each(block, func(raw []byte, h batch.Header) error {
		at := pos
		pos += int64(len(raw))
		if _, err := batch.Verify(raw); err != nil { // take decodes what it verified
			return fmt.Errorf("replay: partition %d: %s at byte %d (offset %d): %w", cur.tp.Partition, f.object, at, h.BaseOffset, err)
		}
		var err error
		recs, err = cur.take(dec, raw, h, recs[:0])
		if err != nil && !errors.Is(err, errDone) {
			return fmt.Errorf("replay: partition %d: %s at byte %d (offset %d): %w", cur.tp.Partition, f.object, at, h.BaseOffset, err)
		}
		if emitErr := r.emit(recs, emit); emitErr != nil {
			return emitErr
		}
		return err
	})
}

func (r *Replayer) emit(recs []Record, emit func(Record) error) error {
	if len(recs) == 0 {
		return nil
	}
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	for i := range recs {
		if err := emit(recs[i]); err != nil {
			r.records.Add(int64(i))
			return err
		}
	}
	r.records.Add(int64(len(recs)))
	return nil
}

// read returns length bytes of object from off (length < 0: to the end).
func (r *Replayer) read(ctx context.Context, object string, off, length int64) ([]byte, error) {
	rc, err := r.bucket.GetRange(ctx, object, off, length)
	if err != nil {
		return nil, err // the store's errors name the object
	}
	defer rc.Close()
	var b []byte
	if length >= 0 {
		b = make([]byte, 0, length)
	}
	b, err = readAll(rc, b)
	if err != nil {
		return nil, fmt.Errorf("get %s at %d: %w", object, off, err)
	}
	return b, nil
}

// readAll is io.ReadAll into b's capacity.
func readAll(rd io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = slices.Grow(b, 512)
		}
		n, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// cursor is where one partition's replay stands.
type cursor struct {
	tp index.TopicPartition
	// next is the next offset to deliver, end the offset to stop before.
	next, end int64
	from, to  time.Time
	// started is set once a record at or after from has been found; done
	// once the partition's end has been reached.
	started, done bool
	readCommitted bool
	aborted       map[int64][]index.AbortedTxn
}

func (c *cursor) setAborted(txns []index.AbortedTxn) {
	c.aborted = nil
	if !c.readCommitted {
		return
	}
	for _, a := range txns {
		if c.aborted == nil {
			c.aborted = make(map[int64][]index.AbortedTxn)
		}
		c.aborted[a.ProducerID] = append(c.aborted[a.ProducerID], a)
	}
}

func (c *cursor) abortedBatch(h batch.Header) bool {
	if !h.Transactional() {
		return false
	}
	for _, a := range c.aborted[h.ProducerID] {
		if h.BaseOffset >= a.FirstOffset && h.BaseOffset <= a.LastOffset {
			return true
		}
	}
	return false
}

// take appends the records of one batch that the replay delivers to recs,
// and moves the cursor past the batch. raw must have passed batch.Verify,
// with header h. It returns errDone, with the records
// before it, once the partition's end is reached.
func (c *cursor) take(dec *batch.Decoder, raw []byte, h batch.Header, recs []Record) ([]Record, error) {
	if h.LastOffset() < c.next {
		return recs, nil
	}
	if h.BaseOffset >= c.end {
		return recs, errDone
	}
	defer func() { c.next = max(c.next, h.LastOffset()+1) }()
	if h.Control() || (c.readCommitted && c.abortedBatch(h)) {
		return recs, nil
	}
	fromMs, toMs := int64(-1), int64(-1)
	if !c.from.IsZero() && !c.started {
		fromMs = c.from.UnixMilli()
	}
	if !c.to.IsZero() {
		toMs = c.to.UnixMilli()
	}
	logAppend := h.LogAppendTime()
	done := false
	err := dec.EachVerifiedRecord(raw, h, func(rec batch.Record) error {
		if rec.Offset < c.next {
			return nil
		}
		if rec.Offset >= c.end || (toMs >= 0 && rec.Timestamp >= toMs) {
			done = true
			return errDone
		}
		if fromMs >= 0 {
			if rec.Timestamp < fromMs {
				return nil
			}
			fromMs, c.started = -1, true
		}
		recs = append(recs, Record{
			Partition: c.tp.Partition, Offset: rec.Offset, Timestamp: rec.Timestamp, LogAppendTime: logAppend,
			Key: rec.Key, Value: rec.Value, Headers: rec.Headers,
		})
		return nil
	})
	if done {
		c.end = c.next // nothing more from this partition
		return recs, errDone
	}
	return recs, err
}
