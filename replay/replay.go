package replay

import (
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
// slices are emit's to keep. Run stops at and returns the first error,
// emit's included.
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
	for _, p := range parts {
		if p < 0 || p >= t.Partitions {
			return fmt.Errorf("replay: topic %s has partitions 0-%d, not %d", t.Name, t.Partitions-1, p)
		}
	}
	r.planning.Store(int64(len(parts)))
	g, ctx := errgroup.WithContext(ctx)
	for _, p := range parts {
		tp, _ := t.Partition(p)
		g.Go(func() error { return r.replayPartition(ctx, tp, emit) })
	}
	return g.Wait()
}

// replayPartition reads one partition from its start to its end, reloading
// its index when an object it was told of is gone.
func (r *Replayer) replayPartition(ctx context.Context, tp index.TopicPartition, emit func(Record) error) error {
	cur := &cursor{tp: tp, from: r.opts.From, to: r.opts.To, readCommitted: r.opts.ReadCommitted}
	for attempt := 0; ; attempt++ {
		p, _, err := r.index.LoadPartition(ctx, tp)
		if err != nil {
			return fmt.Errorf("replay: partition %d: load index: %w", tp.Partition, err)
		}
		if attempt == 0 {
			cur.next = max(r.opts.FromOffset, p.LogStartOffset)
			cur.end = p.HighWatermark
			if r.opts.ToOffset > 0 {
				cur.end = min(cur.end, r.opts.ToOffset)
			}
		}
		cur.setAborted(p.Aborted)
		gets, err := r.plan(ctx, p, cur)
		if attempt == 0 {
			r.planning.Add(-1)
		}
		if err == nil {
			err = r.fetchAndDeliver(ctx, gets, cur, emit)
		}
		if err == nil || !errors.Is(err, objstore.ErrNotExist) || attempt == staleRetries {
			return err
		}
	}
}

// get is one ranged GET and the blocks it holds, in offset order.
type get struct {
	object string
	off    int64
	length int64
	blocks []segment.IndexEntry
}

// plan turns p's index entries from cur.next up to cur.end into GETs.
func (r *Replayer) plan(ctx context.Context, p index.Partition, cur *cursor) ([]get, error) {
	var gets []get
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
		blocks, err := r.blocksOf(ctx, e)
		if err != nil {
			return nil, err
		}
		for _, b := range blocks {
			if b.LastOffset < cur.next || b.BaseOffset >= cur.end {
				continue
			}
			if n := len(gets); n > 0 {
				g := &gets[n-1]
				if g.object == b.Object && g.off+g.length == b.Position && g.length+b.Length <= r.opts.MaxGetBytes {
					g.length += b.Length
					g.blocks = append(g.blocks, b)
					continue
				}
			}
			gets = append(gets, get{object: b.Object, off: b.Position, length: b.Length, blocks: []segment.IndexEntry{b}})
		}
	}
	for _, g := range gets {
		r.plannedBytes.Add(g.length)
	}
	return gets, nil
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

// fetched is a GET started ahead of its delivery.
type fetched struct {
	get
	done     chan struct{}
	data     []byte
	err      error
	reserved int64
}

// fetchAndDeliver runs gets, up to aheadPerPartition ahead of delivery, and
// delivers their records in order.
func (r *Replayer) fetchAndDeliver(ctx context.Context, gets []get, cur *cursor, emit func(Record) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ahead := make(chan *fetched, aheadPerPartition)
	var fetchers sync.WaitGroup
	defer fetchers.Wait()
	go func() {
		defer close(ahead)
		for _, g := range gets {
			f := &fetched{get: g, done: make(chan struct{}), reserved: min(g.length, r.opts.MaxBufferedBytes)}
			if err := r.buffer.Acquire(ctx, f.reserved); err != nil {
				return
			}
			fetchers.Add(1)
			go func() {
				defer fetchers.Done()
				defer close(f.done)
				if f.err = r.gets.Acquire(ctx, 1); f.err != nil {
					return
				}
				defer r.gets.Release(1)
				f.data, f.err = r.read(ctx, f.object, f.off, f.length)
				r.readBytes.Add(int64(len(f.data)))
			}()
			select {
			case ahead <- f:
			case <-ctx.Done():
				<-f.done
				r.buffer.Release(f.reserved)
				return
			}
		}
	}()
	var err error
	for f := range ahead {
		if err == nil {
			<-f.done
			err = f.err
			if err != nil && ctx.Err() == nil {
				err = fmt.Errorf("replay: partition %d (offsets %d-%d): %w",
					cur.tp.Partition, f.blocks[0].BaseOffset, f.blocks[len(f.blocks)-1].LastOffset, err)
			}
			if err == nil {
				err = r.deliver(f, cur, emit)
			}
			if err != nil {
				cancel()
			}
		} else {
			<-f.done
		}
		f.data = nil
		r.buffer.Release(f.reserved)
	}
	if errors.Is(err, errDone) {
		return nil
	}
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// errDone stops a partition that reached its end within a GET.
var errDone = errors.New("replay: partition done")

// deliver checks the blocks of one GET and emits their selected records.
func (r *Replayer) deliver(f *fetched, cur *cursor, emit func(Record) error) error {
	if int64(len(f.data)) != f.length {
		return fmt.Errorf("replay: partition %d: %s: %d bytes at %d, the index says %d: %w",
			cur.tp.Partition, f.object, len(f.data), f.off, f.length, segment.ErrCorrupt)
	}
	dec := batch.NewDecoder(maxDecompressed)
	defer dec.Close()
	var recs []Record
	for _, b := range f.blocks {
		block := f.data[b.Position-f.off : b.Position-f.off+b.Length]
		if err := segment.CheckBlock(block, b); err != nil {
			return fmt.Errorf("replay: partition %d: %s at byte %d (offsets %d-%d): %w",
				cur.tp.Partition, f.object, b.Position, b.BaseOffset, b.LastOffset, err)
		}
		pos := b.Position
		err := batch.Each(block, func(raw []byte, h batch.Header) error {
			at := pos
			pos += int64(len(raw))
			if _, err := batch.Verify(raw); err != nil {
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
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *Replayer) emit(recs []Record, emit func(Record) error) error {
	if len(recs) == 0 {
		return nil
	}
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	for _, rec := range recs {
		if err := emit(rec); err != nil {
			return err
		}
		r.records.Add(1)
	}
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
	// started is set once a record at or after from has been found.
	started       bool
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
// and moves the cursor past the batch. It returns errDone, with the records
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
	err := dec.EachRecord(raw, func(rec batch.Record) error {
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
